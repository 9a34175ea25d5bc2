"""Open redirects: every next/back a view follows is a same-site path (core.redirects)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from reviewapp.core.redirects import is_same_origin_path, safe_next

EVIL = [
    "//evil.example",
    "//evil.example/queue/",
    "https://evil.example",
    "https://evil.example/queue/",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "/\t/evil.example",
    " //evil.example",
    "http:/evil.example",
    "evil.example",
    "",
]


@pytest.mark.parametrize("value", EVIL)
def test_anything_but_a_site_path_is_refused(value):
    assert not is_same_origin_path(value)
    request = RequestFactory().post("/x", {"next": value})
    assert safe_next(request, "next", default="/home/") == "/home/"


@pytest.mark.parametrize("value", ["/queue/", "/queue/?status=all&page=2", "/catalog/a-b/#x"])
def test_site_paths_are_followed(value):
    assert is_same_origin_path(value)
    request = RequestFactory().post("/x", {"back": value})
    assert safe_next(request, "back", default="/home/") == value


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]
)
def test_catalog_mark_reviewed_does_not_redirect_off_site(client, value):
    from catalog import services
    from tests.catalog.conftest import FULL
    from tests.factories import UserFactory

    engineer = UserFactory(username="sam", roles=["engineer"])
    fm = services.failure_mode_create(
        user=engineer, data={**FULL, "title": "Drift", "owner": "sam", "steward": "sam"}
    )
    client.force_login(engineer)
    url = reverse("catalog:failure-mode-reviewed", args=[fm.slug])
    response = client.post(url, {"next": value})
    assert response.status_code == 302
    assert response["Location"] == reverse("catalog:failure-mode", args=[fm.slug])
    ok = client.post(url, {"next": "/catalog/stewardship/"})
    assert ok["Location"] == "/catalog/stewardship/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]
)
def test_queue_back_does_not_redirect_off_site(client, lead, fraud_model, value):
    client.force_login(lead)
    response = client.post(reverse("queue:bulk"), {"action": "release", "back": value})
    assert response["Location"] == reverse("queue:list")
    response = client.post(reverse("queue:assign", args=[999]), {"back": value})
    assert response["Location"] == reverse("queue:item", args=[999])
    ok = client.post(reverse("queue:bulk"), {"action": "release", "back": "/queue/?status=all"})
    assert ok["Location"] == "/queue/?status=all"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]
)
def test_delivery_retry_does_not_redirect_off_site(client, lead, value):
    client.force_login(lead)
    response = client.post(reverse("delivery:retry", args=[999]), {"next": value})
    assert response["Location"] == reverse("delivery:list")
