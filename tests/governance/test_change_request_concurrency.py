"""16 committee members approve at once: quorum is reached and applied exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from reviewapp.core.exceptions import Conflict
from reviewapp.core.models import AuditEvent
from reviewapp.governance import services
from reviewapp.governance.models import Approval, ChangeRequest, PolicyVersion
from tests.factories import UserFactory

from .cr_helpers import submitted

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks and concurrency run on PostgreSQL"
    ),
]


def test_sixteen_concurrent_approvals_apply_exactly_once(fraud_model, proposer):
    members = [UserFactory(username=f"member{n}", roles=["committee"]) for n in range(16)]
    cr, digest = submitted(fraud_model, proposer, summary={"reviewed_volume_change": 0.4})
    results: dict[int, str] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(members))

    def vote(user):
        try:
            barrier.wait()
            services.change_request_approve(
                change_request_id=cr.pk, user=user, evidence_hash=digest
            )
            results[user.pk] = "ok"
        except Conflict as exc:
            results[user.pk] = exc.code
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=vote, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    cr.refresh_from_db()
    assert cr.status == ChangeRequest.Status.APPLIED
    # critical (2) + proportional (1): the third vote applied it, every later one was refused
    assert list(results.values()).count("ok") == 3
    assert set(results.values()) == {"ok", "invalid_state"}
    assert Approval.objects.filter(change_request=cr).count() == 3
    assert PolicyVersion.objects.filter(model_slug="card-fraud").count() == 2
    assert AuditEvent.objects.filter(verb="governance.change_request.applied").count() == 1
    assert AuditEvent.objects.filter(verb="governance.policy_version.activated").count() == 2
