"""How a model's inputs are presented: the declaration's validation, the text highlights, the
service (audited, refuses bad input and changes nothing), the lead's page, the stored-image view
(visibility, types, headers) and the review page's Content-Security-Policy."""

from __future__ import annotations

import base64
import random

import pytest
from django.test import override_settings

from reviewapp import demo_media, presentation
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.models import MLModel, PoolMembership
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.presentation import model_presentation_set
from tests.factories import MLModelFactory, UserFactory, make_policy

from .test_queue_fixtures import make_items, other_reviewer, pooled_reviewer  # noqa: F401

PNG = base64.b64decode(demo_media.chest_film_b64(label="nodule", rng=random.Random(1)))
PNG_B64 = base64.b64encode(PNG).decode()
IMAGE_BYTES = {"kind": "image", "image_source": "bytes", "image_field": "image"}
IMAGE_URL = {
    "kind": "image",
    "image_source": "url",
    "image_field": "image_url",
    "allowed_origins": ["https://pacs.example.org"],
}


# --- the declaration ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "declaration",
    [
        {},
        {"kind": "tabular"},
        {"kind": "key_value"},
        IMAGE_BYTES,
        IMAGE_URL,
        {**IMAGE_URL, "allowed_origins": ["http://localhost:9000", "https://a.example:8443"]},
        {"kind": "text", "text_field": "body"},
        {"kind": "text", "text_field": "body", "title_field": "subject"},
    ],
)
def test_valid_declarations(declaration):
    assert presentation.validate(declaration) == {}


@pytest.mark.parametrize(
    ("declaration", "field", "words"),
    [
        ([], "presentation", "JSON object"),
        ({"kind": "video"}, "kind", "one of tabular, key_value, image, text"),
        ({"kind": "tabular", "text_field": "x"}, "text_field", "not used by the tabular kind"),
        ({"kind": "image", "image_field": "image"}, "image_source", "bytes"),
        ({"kind": "image", "image_source": "bytes"}, "image_field", "name the input field"),
        ({**IMAGE_URL, "allowed_origins": []}, "allowed_origins", "at least one"),
        ({**IMAGE_URL, "allowed_origins": ["https://x.org/path"]}, "allowed_origins", "no path"),
        ({**IMAGE_URL, "allowed_origins": ["https://*.example.org"]}, "allowed_origins", "origin"),
        ({**IMAGE_URL, "allowed_origins": ["http://pacs.example.org"]}, "allowed_origins", "https"),
        ({**IMAGE_URL, "allowed_origins": ["javascript:alert(1)"]}, "allowed_origins", "origin"),
        ({**IMAGE_BYTES, "allowed_origins": ["https://x.org"]}, "allowed_origins", "only an image by URL"),
        ({"kind": "text"}, "text_field", "name the input field"),
        ({"kind": "text", "text_field": "b", "title_field": "b"}, "title_field", "differ"),
        ({"kind": "text", "text_field": " b"}, "text_field", "spaces"),
    ],
)  # fmt: skip
def test_invalid_declarations_name_the_field(declaration, field, words):
    errors = presentation.validate(declaration)
    assert field in errors, errors
    assert any(words in message for message in errors[field]), errors


def test_sniff_image_knows_the_whitelisted_types_only():
    assert presentation.sniff_image(PNG) == "image/png"
    assert presentation.sniff_image(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert presentation.sniff_image(b"GIF89a...") == "image/gif"
    assert presentation.sniff_image(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert presentation.sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'>") is None
    assert presentation.sniff_image(b"<html><script>") is None


def test_text_attributions_by_span_and_token():
    text = "I was charged twice. Please refund. please?"
    runs = presentation.text_attributions(
        "body",
        text,
        {"body[6:19]": 0.5, "body:please": -0.1, "body[0:999]": 0.9, "amount": 0.3, "x[0:2]": 1},
    )
    assert "".join(r.text for r in runs) == text  # nothing lost, nothing repeated
    marked = [(r.text, r.attribution) for r in runs if r.attribution is not None]
    assert marked == [("charged twice", 0.5), ("Please", -0.1), ("please", -0.1)]
    assert [r.level for r in runs if r.attribution is not None] == [3, 1, 1]


def test_overlapping_spans_take_the_strongest():
    runs = presentation.text_attributions("t", "abcdef", {"t[0:4]": 0.2, "t[2:6]": -0.6})
    assert [(r.text, r.attribution) for r in runs] == [("ab", 0.2), ("cdef", -0.6)]


def test_present_image_by_url_outside_the_allowed_origins_is_not_shown():
    shown = presentation.present(
        IMAGE_URL, {"image_url": "https://pacs.example.org/a.png?sig=1"}, {}, max_image_bytes=10**6
    )
    assert shown.image_url.startswith("https://pacs.example.org/") and not shown.problem
    assert shown.origins == ["https://pacs.example.org"]
    other = presentation.present(
        IMAGE_URL, {"image_url": "https://evil.example/a.png"}, {}, max_image_bytes=10**6
    )
    assert other.image_url == "" and other.origins == []
    assert "https://evil.example" in other.problem and "not loaded" in other.problem


def test_present_something_not_a_declaration_as_the_table():
    shown = presentation.present(["image"], {"a": 1}, None, max_image_bytes=10)
    assert shown.kind == "tabular" and not shown.fields and not shown.problem


def test_present_stored_image_that_is_not_an_image_says_so():
    svg = base64.b64encode(b"<svg onload='x'/>").decode()
    shown = presentation.present(IMAGE_BYTES, {"image": svg}, {}, max_image_bytes=10**6)
    assert "not a PNG, JPEG, GIF or WebP" in shown.problem
    big = presentation.present(IMAGE_BYTES, {"image": PNG_B64}, {}, max_image_bytes=100)
    assert "larger than" in big.problem


# --- the service ----------------------------------------------------------------------------
def test_presentation_set_is_audited_and_bad_input_changes_nothing(fraud_model, lead):
    actor = Actor.user(lead)
    assert model_presentation_set(
        model=fraud_model,
        declaration={**IMAGE_URL, "allowed_origins": ["https://PACS.example.org/"]},
        actor=actor,
    )
    fraud_model.refresh_from_db()
    assert fraud_model.presentation["allowed_origins"] == ["https://pacs.example.org"]
    event = AuditEvent.objects.get(verb="queue.ml_model.presentation_changed")
    assert event.before == {"presentation": {}}
    assert event.after["presentation"]["kind"] == "image"
    # The same again: nothing written.
    assert not model_presentation_set(
        model=fraud_model, declaration=fraud_model.presentation, actor=actor
    )
    with pytest.raises(ServiceError) as caught:
        model_presentation_set(
            model=fraud_model, declaration={"kind": "text", "text_field": ""}, actor=actor
        )
    assert "text_field" in caught.value.errors
    fraud_model.refresh_from_db()
    assert fraud_model.presentation["kind"] == "image"
    assert AuditEvent.objects.filter(verb="queue.ml_model.presentation_changed").count() == 1


# --- the lead's page ------------------------------------------------------------------------
def test_lead_edits_the_presentation_and_reviewer_may_not(
    client,
    lead,
    fraud_model,
    pooled_reviewer,  # noqa: F811
):
    url = f"/queue/models/{fraud_model.slug}/presentation/"
    client.force_login(pooled_reviewer)
    assert client.get(url).status_code == 403
    assert client.post(url, {"kind": "key_value"}).status_code == 403
    client.force_login(lead)
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "kind": "image",
            "image_source": "url",
            "image_field": "scan",
            "allowed_origins": "https://pacs.example.org/x\r\n",
        },
    )
    assert response.status_code == 400
    assert "no path, query or wildcard" in response.content.decode()
    fraud_model.refresh_from_db()
    assert fraud_model.presentation == {}
    response = client.post(
        url,
        {"kind": "text", "text_field": "body", "title_field": "subject", "next": "/queue/"},
    )
    assert response.status_code == 302 and response["Location"] == "/queue/"
    fraud_model.refresh_from_db()
    assert fraud_model.presentation == {
        "kind": "text",
        "text_field": "body",
        "title_field": "subject",
    }
    assert client.get("/queue/models/nope/presentation/").status_code == 404


# --- the stored image -----------------------------------------------------------------------
@pytest.fixture
def image_model(db):
    model = MLModelFactory(
        slug="radiology-triage",
        labels=["no_finding", "nodule"],
        presentation=IMAGE_BYTES,
    )
    make_policy(
        model,
        {
            "min_confidence": 0.9,
            "sla_minutes": {"critical": 20, "high": 45, "medium": 240, "low": 720},
            "fallback": {"label": "needs_radiologist"},
        },
    )
    return model


def _image_item(model, value=PNG_B64):
    item = make_items(model, 1, label="nodule")[0]
    item.prediction.input = {"image": value, "view": "PA"}
    item.prediction.save(update_fields=["input"])
    return item


def test_stored_image_served_to_the_pool_with_safe_headers(client, image_model, lead):
    item = _image_item(image_model)
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=image_model, user=ana)
    for user in (ana, lead):
        client.force_login(user)
        response = client.get(f"/queue/items/{item.pk}/image/")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "private" in response["Cache-Control"]
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response.content == PNG


def test_stored_image_refused_outside_the_pool(client, image_model, fraud_model):
    item = _image_item(image_model)
    committee_member = UserFactory(username="cora", roles=["committee"])
    outsider = UserFactory(username="ravi", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=outsider)
    client.force_login(outsider)
    assert client.get(f"/queue/items/{item.pk}/image/").status_code == 404
    assert client.get(f"/queue/items/{item.pk + 999}/image/").status_code == 404
    # The committee may not open review pages (403, before any visibility question).
    client.force_login(committee_member)
    assert client.get(f"/queue/items/{item.pk}/image/").status_code == 403
    client.logout()
    assert client.get(f"/queue/items/{item.pk}/image/").status_code == 302


def test_stored_image_only_whitelisted_types(client, image_model, lead):
    client.force_login(lead)
    svg = _image_item(image_model, base64.b64encode(b"<svg><script>1</script></svg>").decode())
    assert client.get(f"/queue/items/{svg.pk}/image/").status_code == 404
    garbage = _image_item(image_model, "not base64 at all!")
    assert client.get(f"/queue/items/{garbage.pk}/image/").status_code == 404
    with override_settings(INGEST_MAX_BODY_BYTES=1000):
        big = _image_item(image_model)
        assert client.get(f"/queue/items/{big.pk}/image/").status_code == 404


def test_no_image_view_for_a_model_without_stored_images(client, fraud_model, lead):
    item = make_items(fraud_model, 1)[0]
    client.force_login(lead)
    assert client.get(f"/queue/items/{item.pk}/image/").status_code == 404


# --- the review page ------------------------------------------------------------------------
def test_review_page_csp_allows_the_model_origins_on_that_page_only(
    client,
    fraud_model,
    pooled_reviewer,  # noqa: F811
):
    MLModel.objects.filter(pk=fraud_model.pk).update(presentation=IMAGE_URL)
    item = make_items(fraud_model, 1)[0]
    item.prediction.input = {"image_url": "https://pacs.example.org/1.png?sig=abc", "n": 1}
    item.prediction.save(update_fields=["input"])
    held = review_item_claim_next(user=pooled_reviewer)
    assert held.pk == item.pk
    client.force_login(pooled_reviewer)
    response = client.get(f"/queue/items/{item.pk}/review/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    img_src = next(d for d in csp.split(";") if d.strip().startswith("img-src"))
    assert "https://pacs.example.org" in img_src
    body = response.content.decode()
    assert 'src="https://pacs.example.org/1.png?sig=abc"' in body
    # The queue page does not get the origin.
    assert "pacs.example.org" not in client.get("/queue/")["Content-Security-Policy"]
    # A URL outside the allowed origins is not rendered; the page says why.
    item.prediction.input = {"image_url": "https://tracker.example.net/p.png", "n": 1}
    item.prediction.save(update_fields=["input"])
    response = client.get(f"/queue/items/{item.pk}/review/")
    body = response.content.decode()
    assert "tracker.example.net/p.png" not in body.split("Other inputs")[0].split("not shown")[0]
    assert "https://tracker.example.net, which this model&#x27;s settings do not allow" in body
    assert "tracker.example.net" not in response["Content-Security-Policy"]


def test_review_page_text_highlights_and_keeps_the_other_inputs(
    client,
    fraud_model,
    pooled_reviewer,  # noqa: F811
):
    MLModel.objects.filter(pk=fraud_model.pk).update(
        presentation={"kind": "text", "text_field": "body", "title_field": "subject"}
    )
    item = make_items(fraud_model, 1)[0]
    item.prediction.input = {"subject": "Refund", "body": "I was charged twice.", "tier": "pro"}
    item.prediction.signals = {"attributions": {"body[6:19]": 0.5, "tier": 0.1}}
    item.prediction.save(update_fields=["input", "signals"])
    client.force_login(pooled_reviewer)
    body = client.get(f"/queue/items/{item.pk}/review/").content.decode()
    assert '<mark class="attr-pos lvl3" title="attribution 0.50">charged twice' in body
    assert '<p class="text-title">Refund</p>' in body
    assert "Other inputs" in body and ">tier<" in body
    # The text and title are drawn once, not again in the inputs table.
    assert body.count(">body<") == 0 and body.count(">subject<") == 0


def test_demo_envelopes_carry_an_image_and_a_ticket_text():
    from reviewapp import demo

    rng = random.Random(5)
    radiology = demo.envelope("radiology-triage", 2, rng)
    support = demo.envelope("support-triage", 1, rng)
    data = base64.b64decode(radiology["input"]["image"])
    assert presentation.sniff_image(data) == "image/png" and len(data) < 64 * 1024
    assert presentation.validate(demo_media.DEMO_PRESENTATIONS["radiology-triage"]) == {}
    text = support["input"]["body"]
    assert len(text) > 80 and text.count(".") >= 2
    spans = [k for k in support["signals"]["attributions"] if k.startswith("body[")]
    assert spans
    shown = presentation.present(
        demo_media.DEMO_PRESENTATIONS["support-triage"],
        support["input"],
        support["signals"],
        max_image_bytes=10**6,
    )
    assert shown.highlights and not shown.problem


def test_review_page_key_value_shows_every_field_by_name(
    client,
    fraud_model,
    pooled_reviewer,  # noqa: F811
):
    MLModel.objects.filter(pk=fraud_model.pk).update(presentation={"kind": "key_value"})
    item = make_items(fraud_model, 1)[0]
    item.prediction.input = {"zeta": 1, "alpha": {"nested": [1, 2]}, "mid": "text"}
    item.prediction.save(update_fields=["input"])
    client.force_login(pooled_reviewer)
    body = client.get(f"/queue/items/{item.pk}/review/").content.decode()
    # By name, whatever order the database keeps (jsonb sorts keys its own way).
    assert body.index("<dt>alpha") < body.index("<dt>mid") < body.index("<dt>zeta")
    assert "{&quot;nested&quot;: [1, 2]}" in body


@pytest.mark.django_db
def test_seed_demo_declares_the_presentations_and_sends_the_media(tmp_path):
    from io import StringIO

    from django.core.management import call_command

    from reviewapp.models import Prediction

    with override_settings(VAR_DIR=tmp_path):
        call_command("seed_demo", "--predictions", "9", stdout=StringIO())
    for slug, declaration in demo_media.DEMO_PRESENTATIONS.items():
        assert MLModel.objects.get(slug=slug).presentation == declaration
    film = Prediction.objects.filter(model__slug="radiology-triage").first().input["image"]
    assert presentation.sniff_image(base64.b64decode(film)) == "image/png"
    ticket = Prediction.objects.filter(model__slug="support-triage").first()
    assert ticket.input["body"] and any(
        key.startswith("body[") for key in ticket.signals["attributions"]
    )
