"""The payload table's monthly partitions on PostgreSQL (declarative range partitioning).

Plain SQL helpers shared by the migration that creates the table and by the beat task that
creates months ahead (services/payloads.py). On other databases the table is a plain table and
none of this runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

PAYLOAD_TABLE = "reviewapp_predictionpayload"
DEFAULT_PARTITION = f"{PAYLOAD_TABLE}_default"


def month_start(when: dt.datetime | dt.date) -> dt.date:
    return dt.date(when.year, when.month, 1)


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: dt.date) -> str:
    return f"{PAYLOAD_TABLE}_p{month:%Y_%m}"


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the month in UTC, the partition's range."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    end_month = next_month(month)
    return start, dt.datetime(end_month.year, end_month.month, 1, tzinfo=dt.UTC)


def partition_table_sql(table_sql: str) -> str:
    """Django's CREATE TABLE for the payload model, partitioned by month of ``received_at``."""
    return f'{table_sql} PARTITION BY RANGE ("received_at")'


def existing_month_partitions(cursor: Any) -> dict[dt.date, str]:
    """{month: partition table} of the monthly partitions attached to the payload table."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
        [PAYLOAD_TABLE],
    )
    found: dict[dt.date, str] = {}
    prefix = f"{PAYLOAD_TABLE}_p"
    for (name,) in cursor.fetchall():
        if name.startswith(prefix):
            year, month = name[len(prefix) :].split("_")
            found[dt.date(int(year), int(month), 1)] = name
    return found


def create_default_partition(cursor: Any) -> None:
    cursor.execute(
        f'CREATE TABLE IF NOT EXISTS "{DEFAULT_PARTITION}" PARTITION OF "{PAYLOAD_TABLE}" DEFAULT'
    )


def create_month_partition(cursor: Any, month: dt.date) -> bool:
    """Create (and attach) the month's partition unless it exists; returns whether it did.

    Rows of that month already in the DEFAULT partition (a row received for a month nobody
    created yet) move into the new partition in the same transaction: PostgreSQL refuses to
    attach a range the default partition still holds rows of.
    """
    if month in existing_month_partitions(cursor):
        return False
    name = partition_name(month)
    start, end = month_bounds(month)
    cursor.execute(
        f'CREATE TABLE "{name}" (LIKE "{PAYLOAD_TABLE}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
    )
    cursor.execute(
        f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE "received_at" >= %s'
        f' AND "received_at" < %s RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
        [start, end],
    )
    cursor.execute(
        f'ALTER TABLE "{PAYLOAD_TABLE}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)',
        [start, end],
    )
    return True
