"""Pages: delivery log (leads only), retry now, label export, callback settings; URL safety."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse

from reviewapp.core.models import AuditEvent
from reviewapp.delivery import services
from reviewapp.delivery.models import Delivery
from reviewapp.delivery.validators import (
    UnsafeCallbackURL,
    check_callback_url,
    generate_callback_secret,
    secret_key_bytes,
    validate_callback_url,
)
from reviewapp.models import MLModel
from tests.factories import signed_in_queries

from .factories import make_decision, make_item

pytestmark = pytest.mark.django_db


def _deliveries(model, reviewer, n: int) -> None:
    for _ in range(n):
        make_decision(make_item(model), reviewer)
    services.deliveries_enqueue()


def test_delivery_log_is_for_leads_only(client, hooked_model, ana, lead, engineer, reviewer):
    _deliveries(hooked_model, ana, 1)
    item_id = Delivery.objects.get().item_id
    urls = [reverse("delivery:list"), reverse("delivery:item", args=[item_id])]
    for url in urls:
        assert client.get(url).status_code == 302  # to the login page
    for user in (reviewer, engineer):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403, (user, url)
    client.force_login(lead)
    for url in urls:
        assert client.get(url).status_code == 200


def test_list_filters_and_query_count(
    client, hooked_model, receiver, ana, lead, django_assert_num_queries
):
    receiver.fail_first(100, code=500)
    _deliveries(hooked_model, ana, 3)
    services.deliveries_send_due(time_budget=10)
    client.force_login(lead)
    url = reverse("delivery:list")
    client.get(url)  # a lead's top bar counts escalations once per cache period
    # 2 x permissions, model slugs, count, status counts, the page of rows
    with django_assert_num_queries(signed_in_queries(6)):
        response = client.get(url, {"status": "pending", "model": "card-fraud"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "HTTP 500" in page and "The receiver answered HTTP 500" in page
    # The count of queries does not grow with the rows shown.
    _deliveries(hooked_model, ana, 10)
    with django_assert_num_queries(signed_in_queries(6)):
        client.get(url, {"status": "pending", "model": "card-fraud"})
    assert "No deliveries match" in client.get(url, {"status": "failed"}).content.decode()


def test_item_log_shows_each_attempt(
    client, hooked_model, receiver, ana, lead, django_assert_num_queries
):
    receiver.fail_first(1, code=503)
    _deliveries(hooked_model, ana, 1)
    delivery = Delivery.objects.get()
    services.deliveries_send_due(time_budget=10)
    services.deliveries_send_due(now=Delivery.objects.get().next_attempt_at, time_budget=10)
    client.force_login(lead)
    client.get(reverse("delivery:list"))  # a lead's top bar counts escalations once per period
    # 2 x permissions, item, deliveries, attempts
    with django_assert_num_queries(signed_in_queries(5)):
        response = client.get(reverse("delivery:item", args=[delivery.item_id]))
    page = response.content.decode()
    assert delivery.message_id in page
    assert "Will retry" in page and "Delivered" in page and "503" in page
    assert client.get(reverse("delivery:item", args=[999999])).status_code == 404


def test_retry_now_from_the_log(client, hooked_model, receiver, ana, lead, reviewer):
    _deliveries(hooked_model, ana, 1)
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    url = reverse("delivery:retry", args=[delivery.pk])
    client.force_login(reviewer)
    assert client.post(url).status_code == 403
    client.force_login(lead)
    back = reverse("delivery:item", args=[delivery.item_id])
    response = client.post(url, {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
    assert AuditEvent.objects.filter(
        verb="delivery.delivery.requeued", target_id=str(delivery.pk), actor_label="lee"
    ).exists()
    # A second click names the problem instead of failing.
    response = client.post(url, {"next": "https://evil.example/"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("delivery:list")
    assert "Only failed, stopped or skipped" in response.content.decode()


def test_export_page_for_leads_and_engineers(client, hooked_model, ana, engineer, reviewer):
    decision = make_decision(make_item(hooked_model), ana)
    url = reverse("delivery:export")
    client.force_login(reviewer)
    assert client.get(url).status_code == 403
    client.force_login(engineer)
    assert client.get(url).status_code == 200
    bad = client.get(url, {"download": "1", "since": "last tuesday"})
    assert bad.status_code == 400
    assert "Not a date: last tuesday" in bad.content.decode()
    good = client.get(url, {"download": "1", "model": "card-fraud", "format": "jsonl"})
    assert good.status_code == 200 and good.streaming
    rows = [json.loads(line) for line in b"".join(good.streaming_content).splitlines()]
    assert [r["decision_id"] for r in rows] == [decision.pk]


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
def test_callback_settings_refuse_private_urls_and_generate_a_secret(client, lead, reviewer):
    model = MLModel.objects.create(slug="chest-xray", name="Chest", owner_team="r", labels=["a"])
    url = reverse("delivery:callback", args=[model.slug])
    client.force_login(reviewer)
    assert client.get(url).status_code == 403
    client.force_login(lead)
    response = client.post(url, {"callback_url": "http://169.254.169.254/latest/meta-data"})
    assert response.status_code == 400
    assert "link-local" in response.content.decode()
    model.refresh_from_db()
    assert model.callback_url == ""

    response = client.post(url, {"callback_url": "https://93.184.216.34/hooks"})
    assert response.status_code == 200
    model.refresh_from_db()
    assert model.callback_url == "https://93.184.216.34/hooks"
    assert model.callback_secret in response.content.decode()  # shown once
    assert len(secret_key_bytes(model.callback_secret)) == 32
    event = AuditEvent.objects.get(verb="delivery.callback.configured")
    assert model.callback_secret not in json.dumps([event.before, event.after, event.data])
    # Saving again without a secret keeps it and does not show it.
    again = client.post(url, {"callback_url": "https://93.184.216.34/hooks2"})
    model.refresh_from_db()
    assert model.callback_secret not in again.content.decode()
    bad_secret = client.post(url, {"callback_url": "", "callback_secret": "plaintext"})
    assert bad_secret.status_code == 400 and "whsec_" in bad_secret.content.decode()


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://93.184.216.34/x", "Only http and https"),
        ("http://127.0.0.1:8000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://169.254.169.254/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://100.64.0.1/", "non-public"),
        ("http://user:pw@93.184.216.34/", "credentials"),
        ("http:///nohost", "no host"),
    ],
)
def test_unsafe_callback_urls_are_refused(url, words):
    with pytest.raises(UnsafeCallbackURL, match=words):
        check_callback_url(url)
    with pytest.raises(ValidationError):
        validate_callback_url(url)


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
def test_public_callback_url_is_accepted():
    check_callback_url("https://93.184.216.34/hooks")
    validate_callback_url("")  # empty: no callback, producers poll the feed


def test_loopback_allowed_when_the_setting_says_so():
    check_callback_url("http://127.0.0.1:8000/hook")  # tests allow private networks


def test_secret_format():
    secret = generate_callback_secret()
    assert secret.startswith("whsec_") and len(secret_key_bytes(secret)) == 32
    assert len(secret_key_bytes(secret.rstrip("="))) == 32  # padding optional
    for bad in ("plain", "whsec_!!!", "whsec_c2hvcnQ="):
        with pytest.raises(ValueError):
            secret_key_bytes(bad)


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
def test_admin_form_checks_the_callback_url_too():
    from reviewapp.delivery.admin import MLModelCallbackForm

    data = {
        "slug": "chest-xray",
        "name": "Chest",
        "owner_team": "radiology",
        "criticality": "high",
        "labels": '["a", "b"]',
        "callback_url": "http://10.0.0.7/hook",
        "callback_secret": "",
    }
    form = MLModelCallbackForm(data)
    assert not form.is_valid()
    assert "private" in form.errors["callback_url"][0]
    form = MLModelCallbackForm({**data, "callback_url": "https://93.184.216.34/hook"})
    assert form.is_valid(), form.errors
