from __future__ import annotations

import datetime as dt
import zoneinfo

from reviewapp.core.time import iso_utc


def test_iso_utc_writes_utc_with_z():
    moment = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
    assert iso_utc(moment) == "2026-11-22T10:00:00Z"
    assert iso_utc(moment.replace(microsecond=1500)) == "2026-11-22T10:00:00.001500Z"


def test_iso_utc_converts_other_zones_to_utc():
    amsterdam = dt.datetime(2026, 11, 22, 11, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Amsterdam"))
    assert iso_utc(amsterdam) == "2026-11-22T10:00:00Z"


def test_iso_utc_keeps_none_and_can_write_the_offset_as_digits():
    assert iso_utc(None) is None
    moment = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
    assert iso_utc(moment, utc_designator="+00:00") == "2026-11-22T10:00:00+00:00"
