"""Browser tests: inputs a person can judge. A radiology reviewer reads a chest film (stored
bytes, then by URL from an allowed origin) with zoom, pan and contrast by keyboard; a support
reviewer reads the ticket's text with the attributed spans highlighted. The decision surface
stays on the first screen at 1366×768, and no key of the viewer sets an action.
Screenshots: review-image.png, review-image-zoomed.png, review-image-url.png,
review-image-refused.png, review-text.png."""

from __future__ import annotations

import base64
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reviewapp import demo, demo_media
from reviewapp.models import PoolMembership
from tests.factories import MLModelFactory, UserFactory, make_policy
from tests.reviewapp.test_queue_fixtures import make_items

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RULES = {
    "min_confidence": 0.9,
    "sla_minutes": {"critical": 20, "high": 45, "medium": 240, "low": 720},
    "fallback": {"label": "needs_radiologist"},
}


def _model(slug, labels, presentation):
    model = MLModelFactory(slug=slug, labels=labels, presentation=presentation)
    make_policy(model, RULES)
    return model


def _reviewer(model, username="ana"):
    user = UserFactory(username=username, roles=["reviewer"])
    PoolMembership.objects.create(model=model, user=user)
    return user


def _item_with(model, label, features, signals=None):
    item = make_items(model, 1, label=label, confidence=0.62)[0]
    prediction = item.prediction
    prediction.input = features
    prediction.signals = {"ood_score": 0.2, **(signals or {})}
    prediction.save(update_fields=["input", "signals"])
    return item


def _start(page, live_server, sign_in, username="ana"):
    sign_in(page, live_server, username)
    page.goto(f"{live_server.url}/queue/")
    page.click("text=Start reviewing")
    page.wait_for_url("**/review/")


def _fits_one_screen(page):
    box = page.locator("#decide-form").bounding_box()
    assert box["y"] + box["height"] <= 768, box


def test_radiology_reviewer_reads_the_film_with_keys(live_server, page, sign_in, artifacts):
    model = _model(
        "radiology-triage",
        ["no_finding", "nodule", "effusion", "pneumothorax", "fracture"],
        demo_media.DEMO_PRESENTATIONS["radiology-triage"],
    )
    rng = random.Random(3)
    film = demo_media.chest_film_b64(label="pneumothorax", rng=rng)
    _item_with(
        model,
        "pneumothorax",
        {"image": film, "view": "PA", "patient_age": 61, "scanner": "Siemens Ysio Max"},
        {"attributions": {"view": 0.12, "patient_age": -0.05}},
    )
    _reviewer(model)
    _start(page, live_server, sign_in)

    img = page.locator("[data-viewer-img]")
    img.wait_for()
    page.wait_for_function("document.querySelector('[data-viewer-img]').naturalWidth > 0")
    assert img.evaluate("i => i.naturalWidth") == 256
    assert "Other inputs" in page.inner_text(".inputs-col")
    assert page.locator(".inputs-col table.inputs th", has_text="scanner").count() == 1
    # The base64 field is drawn as the picture, not as text in the table.
    assert page.locator(".inputs-col table.inputs th", has_text="image").count() == 0
    _fits_one_screen(page)
    page.screenshot(path=str(artifacts / "review-image.png"), full_page=False)

    viewer = page.locator("[data-viewer]")
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert float(viewer.get_attribute("data-zoom")) == pytest.approx(1.56)
    assert page.inner_text("[data-viewer-zoom-level]") == "156%"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    transform = img.evaluate("i => i.style.transform")
    assert "translate(-" in transform and "scale(1.56)" in transform
    page.keyboard.press("c")
    page.keyboard.press("c")
    assert viewer.get_attribute("data-contrast") == "2"
    assert "contrast(2)" in img.evaluate("i => i.style.filter")
    page.screenshot(path=str(artifacts / "review-image-zoomed.png"), full_page=False)
    # None of these keys chose an action or left the page.
    assert page.locator(".actions-bar .btn.mode").count() == 0
    assert page.url.endswith("/review/")
    page.keyboard.press("0")
    assert viewer.get_attribute("data-zoom") == "1"
    # "?" lists the viewer's keys with the page's.
    page.keyboard.press("?")
    assert "Step the contrast" in page.inner_text("#keys-help")
    page.keyboard.press("Escape")
    assert viewer.get_attribute("data-contrast") == "1"
    # Typing in the reason box is typing, not zooming.
    page.fill("#id_reason", "")
    page.click("#id_reason")
    page.keyboard.type("c+0")
    assert viewer.get_attribute("data-zoom") == "1"
    assert page.input_value("#id_reason") == "c+0"
    # The page's own keys still work beside the viewer's.
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    page.wait_for_url("**/queue/**")


class _OnePicture(BaseHTTPRequestHandler):
    png = b""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.png)))
        self.end_headers()
        self.wfile.write(self.png)

    def log_message(self, *args):
        pass


@pytest.fixture
def image_origin():
    """Another origin (the producer's image store) serving one PNG at any path."""
    _OnePicture.png = base64.b64decode(
        demo_media.chest_film_b64(label="nodule", rng=random.Random(8))
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OnePicture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_image_by_url_loads_only_from_an_allowed_origin(
    live_server, page, sign_in, artifacts, image_origin
):
    model = _model(
        "radiology-triage",
        ["no_finding", "nodule"],
        {
            "kind": "image",
            "image_source": "url",
            "image_field": "image_url",
            "allowed_origins": [image_origin],
        },
    )
    item = _item_with(
        model, "nodule", {"image_url": f"{image_origin}/films/1.png?sig=abc", "view": "PA"}
    )
    _reviewer(model)
    _start(page, live_server, sign_in)
    page.wait_for_function("document.querySelector('[data-viewer-img]').naturalWidth > 0")
    page.screenshot(path=str(artifacts / "review-image-url.png"), full_page=False)

    # The same item, now pointing elsewhere: not loaded, and the page says why.
    prediction = item.prediction
    prediction.input = {"image_url": "https://tracker.example.net/p.png", "view": "PA"}
    prediction.save(update_fields=["input"])
    page.reload()
    assert page.locator("[data-viewer-img]").count() == 0
    problem = page.inner_text(".media-problem")
    assert "https://tracker.example.net" in problem and "not loaded" in problem
    _fits_one_screen(page)
    page.screenshot(path=str(artifacts / "review-image-refused.png"), full_page=False)


def test_support_reviewer_reads_the_ticket_text(live_server, page, sign_in, artifacts):
    model = _model(
        "support-triage",
        ["billing", "technical", "account", "abuse", "other"],
        demo_media.DEMO_PRESENTATIONS["support-triage"],
    )
    rng = random.Random(21)
    body = demo.envelope("support-triage", 4, rng)
    # A billing ticket the model called technical: the highlights show why.
    features = {
        "subject": "I was charged twice for my subscription this month",
        "channel": "email",
        "customer_tier": "pro",
        "language": "en",
        "previous_tickets": 2,
    }
    text, spans = demo_media.ticket_body(
        subject=features["subject"], label="technical", rng=random.Random(2)
    )
    features["body"] = text
    assert body["input"]["body"]  # the demo's own envelopes carry a text too
    _item_with(model, "technical", features, {"attributions": spans})
    _reviewer(model)
    _start(page, live_server, sign_in)

    view = page.locator(".text-view")
    assert "I was charged twice" in view.locator(".text-title").inner_text()
    marks = view.locator(".text-body mark")
    assert marks.count() >= 2
    assert view.locator(".text-body mark.attr-neg").count() >= 1  # the billing phrase, against
    assert view.locator(".text-body mark.attr-pos").count() >= 1  # the side remark, toward
    legend = page.inner_text(".text-legend")
    assert "toward technical" in legend
    assert page.locator(".inputs-col table.inputs th", has_text="customer_tier").count() == 1
    page.screenshot(path=str(artifacts / "review-text.png"), full_page=False)
    _fits_one_screen(page)


def test_lead_declares_the_presentation_with_clear_errors(live_server, page, sign_in, artifacts):
    model = _model("radiology-triage", ["no_finding", "nodule"], {})
    UserFactory(username="lee", roles=["lead"])
    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/queue/models/{model.slug}/presentation/")
    page.select_option("#id_kind", "image")
    page.select_option("#id_image_source", "url")
    page.fill("#id_image_field", "image_url")
    page.fill("#id_allowed_origins", "https://pacs.example.org/films\nhttps://*.example.org")
    page.click("main button[type=submit]")
    errors = page.inner_text(".field-error >> nth=0")
    assert "Allowed image origins" in errors and "no path, query or wildcard" in errors
    assert page.locator(".field-error").count() == 2
    page.screenshot(path=str(artifacts / "presentation-errors.png"), full_page=True)
    model.refresh_from_db()
    assert model.presentation == {}
    page.fill("#id_allowed_origins", "https://pacs.example.org")
    page.click("main button[type=submit]")
    assert "Saved" in page.inner_text("main")
    model.refresh_from_db()
    assert model.presentation["allowed_origins"] == ["https://pacs.example.org"]
