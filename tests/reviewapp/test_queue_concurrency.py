"""No two reviewers ever hold one item: concurrent claimers, each on its own connection."""

import threading

import pytest
from django.db import connection, connections

from reviewapp.models import PoolMembership, ReviewItem
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.decisions import review_item_decide
from tests.factories import UserFactory

from . import test_queue_fixtures as fx

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="SKIP LOCKED concurrency runs on PostgreSQL"
    ),
]


def test_eight_concurrent_claimers_never_share_an_item(fraud_model):
    fx.make_items(fraud_model, 50)
    users = []
    for n in range(8):
        user = UserFactory(username=f"claimer{n}", roles=["reviewer"])
        PoolMembership.objects.create(model=fraud_model, user=user)
        users.append(user)
    claimed: dict[int, list[int]] = {u.pk: [] for u in users}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(users))

    def work(user):
        try:
            barrier.wait()
            while True:
                item = review_item_claim_next(user=user)
                if item is None:
                    return
                claimed[user.pk].append(item.pk)
                # decide at once so the next claim takes a new item, not the held one
                review_item_decide(
                    item_id=item.pk, user=user, action="accept", generation=item.claim_generation
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    all_ids = [pk for ids in claimed.values() for pk in ids]
    assert len(all_ids) == 50
    assert len(set(all_ids)) == 50, "an item was claimed twice"
    assert sum(1 for ids in claimed.values() if ids) > 1  # really concurrent
    assert ReviewItem.objects.filter(status=ReviewItem.Status.DECIDED).count() == 50
