"""Answers of the governance API found by the schemathesis run (tests/core/test_schemathesis.py)
and by probing around it: each was wrong before its fix."""

from __future__ import annotations

import pytest

from reviewapp.governance import services
from reviewapp.governance.models import ChangeRequest

from .cr_helpers import proposal
from .test_api import BASE, errors, session_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("body", ["[]", '"text"', "1", "null"])
def test_a_body_that_is_not_an_object_is_a_400_on_detail(fraud_model, proposer, body):
    cr = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(), rationale="Why not."
    )
    c = session_client(proposer)
    for method, url in (("patch", f"{BASE}/{cr.pk}"), ("post", f"{BASE}/{cr.pk}/comment")):
        r = getattr(c, method)(url, body, content_type="application/json")
        assert r.status_code == 400 and set(errors(r)) == {"detail"}, (method, r.content)
    assert ChangeRequest.objects.get(pk=cr.pk).revision == cr.revision
