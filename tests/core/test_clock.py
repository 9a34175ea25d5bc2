"""core's clock: timezone.now() unless a block travels; services and model defaults read it."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.utils import timezone

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.models import AuditEvent

WHEN = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def test_now_is_the_real_time_outside_a_block():
    assert not clock.is_travelling()
    assert abs(clock.now() - timezone.now()) < dt.timedelta(seconds=1)


def test_travel_moves_the_clock_keeps_it_ticking_and_nests():
    with clock.travel(WHEN):
        first = clock.now()
        assert WHEN <= first < WHEN + dt.timedelta(seconds=1)
        assert clock.now() >= first  # it keeps ticking from there
        with clock.travel(WHEN + dt.timedelta(days=1)):
            assert clock.now().date() == dt.date(2026, 3, 2)
        assert clock.now().date() == dt.date(2026, 3, 1)
    assert abs(clock.now() - timezone.now()) < dt.timedelta(seconds=1)


def test_travel_stays_in_its_own_thread():
    seen = []
    with clock.travel(WHEN):
        other = threading.Thread(target=lambda: seen.append(clock.now()))
        other.start()
        other.join()
    assert abs(seen[0] - timezone.now()) < dt.timedelta(seconds=5)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="aware"), clock.travel(dt.datetime(2026, 3, 1)):  # noqa: DTZ001
        pass


@pytest.mark.django_db
def test_audit_events_and_model_defaults_carry_the_travelled_time():
    with clock.travel(WHEN):
        event = audit_record(actor=Actor.system("test"), verb="core.user.created", target=("x", 1))
    assert WHEN <= AuditEvent.objects.get(pk=event.pk).occurred_at < WHEN + dt.timedelta(seconds=5)
    field = AuditEvent._meta.get_field("occurred_at")
    assert field.default is clock.now
