"""The read replica (reviewapp/core/db_router.py), with the replica pointed at the primary.

Test settings always define the ``replica`` alias as a test mirror of ``default``: a second
connection to the same test database. Tests that read through it commit their rows
(``transaction=True``) and name both databases; inside a test's wrapping transaction the
router reads the primary, which the last tests check too. The last test makes the replica lag:
its connection keeps an old snapshot while the primary moves on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reviewapp.core.db_router import (
    REPLICA,
    ReplicaRouter,
    read_alias,
    reads_from_primary,
    reads_from_replica,
    replica_iter,
)
from reviewapp.models import Decision, MLModel, PoolMembership, ReviewItem
from reviewapp.services.claims import review_item_claim_next
from tests.factories import UserFactory
from tests.reviewapp.test_queue_fixtures import decide, make_items

BOTH = [DEFAULT_DB_ALIAS, REPLICA]
committed = pytest.mark.django_db(transaction=True, databases=BOTH)


class Captured:
    """The SQL each alias ran inside the block."""

    def __enter__(self) -> Captured:
        self._default = CaptureQueriesContext(connections[DEFAULT_DB_ALIAS])
        self._replica = CaptureQueriesContext(connections[REPLICA])
        self._default.__enter__()
        self._replica.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._replica.__exit__(*exc)
        self._default.__exit__(*exc)

    @property
    def default(self) -> list[str]:
        return [q["sql"] for q in self._default.captured_queries]

    @property
    def replica(self) -> list[str]:
        return [q["sql"] for q in self._replica.captured_queries]


def _reading(statements: list[str], table: str) -> list[str]:
    """The reads of ``table`` (a server-side cursor's on PostgreSQL: DECLARE ... SELECT)."""
    reads = ("SELECT", "DECLARE")
    return [sql for sql in statements if sql.lstrip().upper().startswith(reads) and table in sql]


def _export_ids(client) -> list[int]:
    """The decision ids of the label export (JSONL) as ``client`` downloads it."""
    response = client.get(reverse("delivery:export"), {"download": "1", "format": "jsonl"})
    assert response.status_code == 200
    return [
        json.loads(line)["decision_id"]
        for line in b"".join(response.streaming_content).splitlines()
    ]


@pytest.fixture
def reviewer(fraud_model):
    user = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


# --- the router alone ---------------------------------------------------------------------------
def test_settings_without_a_replica_url_have_no_replica_alias_and_with_one_do():
    code = "from django.conf import settings; import json; print(json.dumps(sorted(settings.DATABASES)))"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_REPLICA_URL"}
    env.update(DJANGO_SETTINGS_MODULE="reviewapp.settings", SECRET_KEY="x", ALLOWED_HOSTS="x")
    run = [sys.executable, "-c", f"import django; django.setup(); {code}"]
    cwd = settings.BASE_DIR
    plain = subprocess.run(run, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    assert json.loads(plain.stdout) == ["default"]
    env["DATABASE_REPLICA_URL"] = "postgres://reader@replica.example:5432/failsafe"
    with_replica = subprocess.run(run, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    assert json.loads(with_replica.stdout) == ["default", "replica"]


def test_writes_and_migrations_never_go_to_the_replica():
    router = ReplicaRouter()
    with reads_from_replica():
        assert router.db_for_write(MLModel) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "reviewapp") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "reviewapp") is None
    a, b = MLModel(), MLModel()
    a._state.db, b._state.db = DEFAULT_DB_ALIAS, REPLICA
    assert router.allow_relation(a, b) is True
    assert "reviewapp.core.db_router.ReplicaRouter" in settings.DATABASE_ROUTERS


def test_no_replica_configured_means_every_read_goes_to_the_primary(monkeypatch):
    monkeypatch.setattr(settings, "DATABASES", {"default": settings.DATABASES["default"]})
    with reads_from_replica():
        assert read_alias() == DEFAULT_DB_ALIAS


def test_replica_iter_keeps_the_scope_inside_each_step():
    seen = []

    def rows():
        for i in range(3):
            seen.append(read_alias())
            yield i

    assert list(replica_iter(rows())) == [0, 1, 2]
    assert seen == [REPLICA] * 3
    assert read_alias() == DEFAULT_DB_ALIAS  # nothing leaked out of the steps


# --- which alias reads, with rows committed ---------------------------------------------------
@committed
def test_no_scope_reads_the_primary_and_a_scope_reads_the_replica(fraud_model):
    assert read_alias() == DEFAULT_DB_ALIAS
    with Captured() as outside:
        assert MLModel.objects.filter(slug="card-fraud").exists()
    assert outside.default and not outside.replica
    with reads_from_replica(), Captured() as inside:
        assert read_alias() == REPLICA
        assert MLModel.objects.filter(slug="card-fraud").exists()
        with reads_from_primary():
            assert read_alias() == DEFAULT_DB_ALIAS
    assert _reading(inside.replica, "reviewapp_mlmodel") and not inside.default


@committed
def test_a_read_inside_a_transaction_sees_its_own_writes(fraud_model):
    with reads_from_replica(), transaction.atomic():
        MLModel.objects.filter(pk=fraud_model.pk).update(name="Renamed inside")
        with Captured() as reads:
            assert MLModel.objects.get(pk=fraud_model.pk).name == "Renamed inside"
        assert read_alias() == DEFAULT_DB_ALIAS
    assert reads.default and not reads.replica


@committed
def test_a_row_read_from_the_replica_is_saved_to_the_primary(fraud_model):
    with reads_from_replica():
        model = MLModel.objects.get(pk=fraud_model.pk)
    assert model._state.db == REPLICA
    model.name = "Saved from a replica read"
    with Captured() as writes:
        model.save(update_fields=["name"])
    assert any(sql.startswith("UPDATE") for sql in writes.default) and not writes.replica
    assert MLModel.objects.get(pk=fraud_model.pk).name == "Saved from a replica read"


@committed
def test_a_claim_and_a_decision_inside_a_replica_scope_read_the_primary(fraud_model, reviewer):
    make_items(fraud_model, 2)
    with reads_from_replica(), Captured() as claim:
        item = review_item_claim_next(user=reviewer)
    assert item is not None and item.claimed_by_id == reviewer.pk
    assert claim.default and claim.replica == []
    with reads_from_replica(), Captured() as decision:
        decide(item, reviewer, "accept")
    assert decision.default and decision.replica == []
    assert ReviewItem.objects.get(pk=item.pk).status == ReviewItem.Status.DECIDED


@committed
def test_dashboards_pages_read_the_replica(client, fraud_model):
    lead = UserFactory(username="lee", roles=["lead"])
    make_items(fraud_model, 1)
    client.force_login(lead)
    for url in (reverse("dashboards:overview"), reverse("dashboards:model", args=["card-fraud"])):
        with Captured() as page:
            assert client.get(url).status_code == 200
        # The rollups, the live queue and the model list come from the replica; the primary
        # only loads the session and the signed-in user (before the scope).
        assert _reading(page.replica, "dashboards_"), url
        assert _reading(page.replica, "reviewapp_reviewitem"), url
        assert not _reading(page.default, "dashboards_"), url
        assert not _reading(page.default, "reviewapp_reviewitem"), url


@committed
def test_label_export_streams_from_the_replica(client, fraud_model, reviewer):
    engineer = UserFactory(username="sam", roles=["engineer"])
    [item] = make_items(fraud_model, 1)
    item = review_item_claim_next(user=reviewer)
    decide(item, reviewer, "accept")
    # Past the undo grace period (and its settle time): a label now.
    Decision.objects.update(deliver_after=timezone.now() - dt.timedelta(minutes=5))
    client.force_login(engineer)
    with Captured() as export:
        exported = _export_ids(client)
    assert exported == list(Decision.objects.values_list("pk", flat=True))
    assert _reading(export.replica, "reviewapp_decision")
    assert not _reading(export.default, "reviewapp_decision")


@committed
def test_audit_export_streams_from_the_replica(client, fraud_model):
    lead = UserFactory(username="lee", roles=["lead"])
    make_items(fraud_model, 1)
    client.force_login(lead)
    with Captured() as export:
        response = client.get(reverse("core:audit-export"))
        assert response.status_code == 200
        lines = b"".join(response.streaming_content).splitlines()
    assert lines
    assert _reading(export.replica, "core_auditevent")
    assert not _reading(export.default, "core_auditevent")


@committed
def test_evidence_reads_traffic_from_the_replica_and_the_policy_from_the_primary(fraud_model):
    from reviewapp.governance.evidence import evidence_compute
    from reviewapp.governance.models import PolicyVersion

    make_items(fraud_model, 3)
    rules = dict(PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).rules)
    with Captured() as reads:
        evidence = evidence_compute(
            model_slug="card-fraud",
            proposed_rules=rules,
            until=timezone.now() + dt.timedelta(minutes=1),
        )
    assert evidence.summary["traffic"]["predictions"] == 3
    assert _reading(reads.replica, "reviewapp_prediction")
    assert not _reading(reads.default, "reviewapp_prediction")
    assert _reading(reads.default, "governance_policyversion")
    assert not _reading(reads.replica, "governance_policyversion")


@committed
def test_range_replay_reads_the_replica_and_one_prediction_s_replay_the_primary(fraud_model):
    from reviewapp.governance.replay import routing_replay, routing_replay_range

    items = make_items(fraud_model, 2)
    with Captured() as reads:
        replays = list(routing_replay_range(model_slug="card-fraud"))
    assert [r.matches for r in replays] == [True, True]
    assert _reading(reads.replica, "reviewapp_prediction")
    assert not _reading(reads.default, "reviewapp_prediction")
    with Captured() as one:
        assert routing_replay(items[0].prediction).matches
    assert one.default and not one.replica


# --- inside a test's wrapping transaction (the usual test) -------------------------------------
@pytest.mark.django_db
def test_inside_a_wrapping_transaction_the_scope_reads_the_primary(fraud_model):
    with reads_from_replica():
        assert read_alias() == DEFAULT_DB_ALIAS
        assert MLModel.objects.filter(pk=fraud_model.pk).exists()


@committed
def test_the_producers_api_reads_the_primary(api, fraud_model, reviewer):
    """The prediction record and the decisions feed drive producers' state: never lagging."""
    [item] = make_items(fraud_model, 1)
    decide(review_item_claim_next(user=reviewer), reviewer, "accept")
    Decision.objects.update(deliver_after=timezone.now() - dt.timedelta(minutes=5))
    with Captured() as reads:
        record = api.get(f"/api/v1/predictions/{item.prediction_id}")
        feed = api.get("/api/v1/decisions")
    assert record.status_code == 200 and feed.status_code == 200
    assert [d["item_id"] for d in feed.json()["results"]] == [item.pk]
    assert _reading(reads.default, "reviewapp_decision") and reads.replica == []


# --- a replica that lags ------------------------------------------------------------------------
@contextlib.contextmanager
def _replica_frozen_here():
    """The replica's connection keeps the snapshot of this moment until the block ends: a
    replica lagging by the block's length. PostgreSQL takes a REPEATABLE READ transaction's
    snapshot at its first statement, so the primary's later commits stay invisible to it."""
    with transaction.atomic(using=REPLICA), connections[REPLICA].cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT count(*) FROM reviewapp_reviewitem")
        yield


@committed
def test_with_a_lagging_replica_pages_show_old_figures_and_claims_and_the_feed_are_current(
    client, api, fraud_model, reviewer
):
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        pytest.skip("a frozen snapshot on a second connection needs PostgreSQL")
    [early] = make_items(fraud_model, 1, prefix="early")
    lead = UserFactory(username="lee", roles=["lead"])
    engineer = Client()
    engineer.force_login(UserFactory(username="sam", roles=["engineer"]))
    client.force_login(lead)
    with _replica_frozen_here():
        [late] = make_items(fraud_model, 1, prefix="late")
        # The dashboard reads the replica: one item waiting, as when the replica froze.
        page = client.get(reverse("dashboards:overview"))
        assert page.status_code == 200 and page.context["queue_total"] == 1
        # Claims read the primary: the reviewer gets the item the replica has not seen yet.
        decide(review_item_claim_next(user=reviewer), reviewer, "accept")
        second = review_item_claim_next(user=reviewer)
        assert second is not None and second.pk == late.pk
        decide(second, reviewer, "accept")
        Decision.objects.update(deliver_after=timezone.now() - dt.timedelta(minutes=5))
        # The producers' feed reads the primary: both decisions, at once.
        feed = api.get("/api/v1/decisions")
        assert feed.status_code == 200
        assert [d["item_id"] for d in feed.json()["results"]] == [early.pk, late.pk]
        # The label export reads the replica: neither decision yet ("comes in the next export").
        assert _export_ids(engineer) == []
    # The replica caught up: the export has both, the dashboard an empty queue.
    assert _export_ids(engineer) == list(
        Decision.objects.order_by("pk").values_list("pk", flat=True)
    )
    assert client.get(reverse("dashboards:overview")).context["queue_total"] == 0
