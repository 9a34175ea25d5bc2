"""The preview a lead reads before switching a model's mode: exact figures on a fixture of
known traffic and known pool activity."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reviewapp.failsafe.selectors import breach_in_hours, switch_preview
from reviewapp.models import Decision, Mode, PoolMembership, Prediction, Purpose, ReviewItem
from tests.factories import MLModelFactory, UserFactory, make_policy

pytestmark = pytest.mark.django_db


def _prediction(model, n: int, received_at: dt.datetime, **fields) -> Prediction:
    return Prediction.objects.create(
        model=model,
        external_id=f"p-{n}",
        model_version="1",
        input={},
        output={"label": "fraud"},
        label="fraud",
        confidence=0.9,
        occurred_at=received_at,
        received_at=received_at,
        **fields,
    )


def _item(prediction, *, status="pending", created_at=None, **fields) -> ReviewItem:
    return ReviewItem.objects.create(
        prediction=prediction,
        model=prediction.model,
        status=status,
        sla_due_at=prediction.received_at + dt.timedelta(hours=1),
        created_at=created_at or prediction.received_at,
        **fields,
    )


@pytest.fixture
def traffic():
    """card-fraud (high tier, SLA 60 min): in the last hour 10 predictions received, 3 routed
    (open items, one claimed by ravi), 7 passed; older traffic and a non-pool reviewer that
    must not count. Decisions: ana 4 in the last hour and 8 more earlier today; ravi 6
    earlier today; zoe (pool, 5 earlier today, no claim) is not active; bob is not in the
    pool (3 in the last hour)."""
    now = timezone.now()
    model = MLModelFactory(slug="card-fraud", criticality="high")
    make_policy(model)
    users = {n: UserFactory(username=n, roles=["reviewer"]) for n in ("ana", "ravi", "zoe", "bob")}
    for name in ("ana", "ravi", "zoe"):
        PoolMembership.objects.create(model=model, user=users[name])
    seq = iter(range(1000))
    for i in range(10):
        routed = i < 3
        p = _prediction(
            model,
            next(seq),
            now - dt.timedelta(minutes=5 + i * 5),
            routed=routed,
            routing_mode="normal",
            reason_codes=["low_confidence"] if routed else [],
            status="in_review" if routed else "passed",
        )
        if routed:
            if i == 0:
                _item(
                    p,
                    status="claimed",
                    claimed_by=users["ravi"],
                    claimed_at=now - dt.timedelta(minutes=2),
                )
            else:
                _item(p)
    # Older than an hour: neither traffic nor review volume.
    for i in range(4):
        p = _prediction(model, next(seq), now - dt.timedelta(hours=2, minutes=i), routed=True)

    def decisions(user, n, ago):
        for _ in range(n):
            p = _prediction(model, next(seq), now - dt.timedelta(days=2), routed=True)
            item = _item(p, status="decided", decided_at=now - ago)
            Decision.objects.create(
                item=item,
                prediction=p,
                model=model,
                reviewer=user,
                action="accept",
                model_confidence=0.9,
                decided_at=now - ago,
            )

    decisions(users["ana"], 4, dt.timedelta(minutes=20))
    decisions(users["ana"], 8, dt.timedelta(hours=5))
    decisions(users["ravi"], 6, dt.timedelta(hours=3))
    decisions(users["zoe"], 5, dt.timedelta(hours=4))
    decisions(users["bob"], 3, dt.timedelta(minutes=10))
    return model, now


def test_containing_previews_every_prediction_reviewed(traffic):
    model, now = traffic
    preview = switch_preview(model=model, mode=Mode.CONTAINED, now=now)
    assert preview.received_last_hour == 10
    assert preview.review_now_per_hour == 3
    assert preview.review_after_per_hour == 10
    assert preview.extra_per_hour == 7
    assert [(m.user.username, m.last_hour, m.last_day) for m in preview.members] == [
        ("ana", 4, 12),
        ("ravi", 0, 6),
    ]
    assert preview.members[0].per_hour_day == 0.5
    assert preview.capacity_per_hour == 4
    assert preview.open_queue == 3
    assert preview.sla_minutes == 60
    # Backlog 3 + (10 - 4) t; a new item breaches once (3 + 6 t) / 4 >= 1 h: t = 1/6 h.
    assert preview.breach_in_hours == pytest.approx(1 / 6)
    assert preview.breach_at == now + dt.timedelta(minutes=10)


def test_halting_previews_the_sampled_share_and_no_breach(traffic):
    model, now = traffic
    preview = switch_preview(model=model, mode=Mode.HALTED, sample_rate=0.2, now=now)
    assert preview.review_after_per_hour == pytest.approx(2.0)
    assert preview.extra_per_hour == pytest.approx(-1.0)
    assert preview.breach_in_hours is None  # 2 per hour in, 4 decided: never at this rate


def test_halting_defaults_to_the_configured_sample_rate(traffic, settings):
    settings.FAILSAFE_HALTED_SAMPLE_RATE = 0.5
    model, now = traffic
    preview = switch_preview(model=model, mode=Mode.HALTED, now=now)
    assert preview.sample_rate == 0.5
    assert preview.review_after_per_hour == pytest.approx(5.0)


def test_lifting_previews_what_the_policy_alone_routed(traffic):
    model, now = traffic
    # Three contained predictions: one routed only because of the containment.
    for n, reasons in enumerate(
        [["model_contained"], ["model_contained", "low_confidence"], ["model_contained"]]
    ):
        p = _prediction(
            model,
            900 + n,
            now - dt.timedelta(minutes=1),
            routed=True,
            routing_mode="contained",
            reason_codes=reasons,
        )
        _item(p, purpose=Purpose.ROUTED)
    preview = switch_preview(model=model, mode=Mode.NORMAL, now=now)
    assert preview.received_last_hour == 13
    assert preview.review_now_per_hour == 6
    assert preview.review_after_per_hour == 4  # the 3 routed in normal mode + 1
    assert not preview.exact


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # capacity covers inflow and the backlog clears within the SLA: never
        ({"open_queue": 2, "inflow_per_hour": 3, "capacity_per_hour": 4, "sla_hours": 1}, None),
        # the backlog already takes longer than the SLA: now
        ({"open_queue": 8, "inflow_per_hour": 0, "capacity_per_hour": 4, "sla_hours": 1}, 0.0),
        # growing backlog: (1 * 4 - 0) / (12 - 4)
        ({"open_queue": 0, "inflow_per_hour": 12, "capacity_per_hour": 4, "sla_hours": 1}, 0.5),
        # nobody deciding, nothing open: the first new item after one SLA
        ({"open_queue": 0, "inflow_per_hour": 5, "capacity_per_hour": 0, "sla_hours": 1}, 1.0),
        # nobody deciding, an open item due in 0.25 h
        (
            {
                "open_queue": 1,
                "inflow_per_hour": 0,
                "capacity_per_hour": 0,
                "sla_hours": 1,
                "first_due_in_hours": 0.25,
            },
            0.25,
        ),
        # nothing at all: never
        ({"open_queue": 0, "inflow_per_hour": 0, "capacity_per_hour": 0, "sla_hours": 1}, None),
    ],
)
def test_breach_time(kwargs, expected):
    assert breach_in_hours(**kwargs) == expected


# --- the halt page's preview follows the share the lead types --------------------------------
def _halt_page_post(client, data):
    from django.urls import reverse

    lead = UserFactory(username="lee", roles=["lead"])
    client.force_login(lead)
    return client.post(reverse("failsafe:halt", args=["card-fraud"]), data)


def _after_per_hour(body: str) -> str:
    import re

    return re.search(r"per hour reviewed now → ([\d.]+) per hour after", body).group(1)


def test_halt_preview_recomputes_at_the_posted_share_and_switches_nothing(
    client, traffic, settings
):
    settings.FAILSAFE_HALTED_SAMPLE_RATE = 0.1
    response = _halt_page_post(
        client, {"preview": "1", "sample_rate": "0.5", "reason": "Drafting", "review_by": ""}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert _after_per_hour(body) == "5"
    assert "50 % of them sampled for review" in body
    assert "Drafting" in body  # what the lead typed stays
    assert "field-error" not in body  # no "reason required" on a preview
    from reviewapp.models import ModelMode

    assert not ModelMode.objects.exists()


def test_halt_preview_names_a_bad_share(client, traffic):
    response = _halt_page_post(client, {"preview": "1", "sample_rate": "2", "reason": ""})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_sample_rate-error"' in body and 'id="id_reason-error"' not in body


def test_halt_page_updates_its_preview_as_the_share_changes(client, traffic):
    from django.urls import reverse

    client.force_login(UserFactory(username="lee", roles=["lead"]))
    body = client.get(reverse("failsafe:halt", args=["card-fraud"])).content.decode()
    assert 'hx-post="/failsafe/models/card-fraud/halt/"' in body
    assert 'hx-target="#preview-region"' in body and 'id="preview-region"' in body
    assert 'name="preview"' in body  # the button, where htmx is not loaded


def test_contain_page_says_when_the_first_item_breaches_in_clock_time(client, traffic):
    from django.urls import reverse

    client.force_login(UserFactory(username="lee", roles=["lead"]))
    body = client.get(reverse("failsafe:contain", args=["card-fraud"])).content.decode()
    assert "the first new item breaches at " in body
    assert "at in " not in body  # it read "at in 10 min"
