"""Times are shown in the signed-in person's zone, and say which zone where a clock time shows.

Tested with a person far from UTC (Kiritimati, UTC+14: a different calendar day from UTC for
half of every day), so a time left in UTC cannot pass for local by accident.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from reviewapp.accounts.services import time_zone_set
from reviewapp.models import Decision
from reviewapp.selectors.mine import day_start
from reviewapp.services.claims import review_item_claim_next

from . import test_queue_fixtures as fx

pooled_reviewer = fx.pooled_reviewer
FAR = zoneinfo.ZoneInfo("Pacific/Kiritimati")

TEMPLATES = Path(settings.BASE_DIR) / "templates"
DATE_FILTER = re.compile(r"\|(date|time):(['\"])(.*?)\2")
HOUR = re.compile(r"(?<!\\)[GHghPfAa]")  # a clock time (not an escaped letter)
ZONE = re.compile(r"(?<!\\)[TOeIcrU]")  # the zone's name or offset (or a full timestamp)


def test_every_clock_time_in_a_template_says_its_zone():
    """A template that formats a clock time names the zone beside it (``T``: "CET", "+14")
    or its offset: a reader in another zone, or a screenshot shared across zones, must not
    have to guess. Dates alone (``Y-m-d``) need no zone."""
    missing = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for match in DATE_FILTER.finditer(line):
                kind, _q, fmt = match.groups()
                if kind == "time" or (HOUR.search(fmt) and not ZONE.search(fmt)):
                    missing.append(f"{path.relative_to(TEMPLATES)}:{number}: {match.group(0)}")
    assert not missing, "clock times without their zone:\n" + "\n".join(missing)


@pytest.fixture
def far_reviewer(pooled_reviewer):
    time_zone_set(user=pooled_reviewer, time_zone="Pacific/Kiritimati")
    return pooled_reviewer


@pytest.mark.django_db
def test_my_decisions_shows_times_and_today_in_the_reviewers_zone(
    client, far_reviewer, fraud_model
):
    fx.make_items(fraud_model, 2)
    decisions = []
    for _ in range(2):
        item = review_item_claim_next(user=far_reviewer)
        decisions.append(fx.decide(item, far_reviewer, "accept"))
    now = timezone.now()
    with timezone.override(FAR):
        midnight = day_start(now)
    assert midnight.utcoffset() == dt.timedelta(hours=14)
    # One decision a minute before the reviewer's midnight, one a minute after (or now).
    before, after = midnight - dt.timedelta(minutes=1), min(now, midnight + dt.timedelta(minutes=1))
    Decision.objects.filter(pk=decisions[0].pk).update(decided_at=before)
    Decision.objects.filter(pk=decisions[1].pk).update(decided_at=after)

    client.force_login(far_reviewer)
    response = client.get("/queue/mine/")
    body = response.content.decode()
    assert response.context["figures"]["mine"].items == 1  # only the one after local midnight
    assert response.context["figures"]["since"] == midnight
    assert f"Today, since {midnight.strftime('%a %-d %b')}, 00:00 +14" in body
    for moment in (before, after):
        assert moment.astimezone(FAR).strftime("%Y-%m-%d %H:%M +14") in body


@pytest.mark.django_db
def test_queue_and_item_pages_show_the_far_zone(client, far_reviewer, fraud_model):
    item = fx.make_items(fraud_model, 1)[0]
    client.force_login(far_reviewer)
    body = client.get("/queue/").content.decode()
    assert re.search(r"Counts as of \d\d:\d\d:\d\d \+14", body)
    due = item.sla_due_at.astimezone(FAR).strftime("%Y-%m-%d %H:%M:%S +14 (UTC+1400)")
    assert due in body  # the SLA badge's exact time, on hover
    body = client.get(f"/queue/items/{item.pk}/").content.decode()
    assert "(UTC+1400)" in body and "(UTC+0000)" not in body


@pytest.mark.django_db
def test_the_defer_time_names_the_zone_it_is_typed_in(client, far_reviewer, fraud_model):
    fx.make_items(fraud_model, 1)
    item = review_item_claim_next(user=far_reviewer)
    client.force_login(far_reviewer)
    body = client.get(f"/queue/items/{item.pk}/review/").content.decode()
    assert "(defer; Pacific/Kiritimati)" in body
