"""What every benchmark sets to run the production settings (DEBUG off) on this machine.

Production refuses to start without the keys below; these are bench-only values, public and
useless anywhere else, so a benchmark measures the production code path without real secrets.
"""

PRODUCTION_SECRETS = {
    "AUDIT_CHAIN_KEYS": "bench:YmVuY2gtb25seS1hdWRpdC1jaGFpbi1rZXktMzItYnl0ZXMh",
    "FIELD_ENCRYPTION_KEYS": "YmVuY2gtb25seS1maWVsZC1rZXktMzItYnl0ZXMhISE=",
    # /metrics is not measured; the benches' servers listen on 127.0.0.1 only.
    "METRICS_PUBLIC": "1",
}


def recreate_database(url: str) -> None:
    """Drop and create the benchmark's database. Refuses a name without "bench" in it, so a
    mistyped DATABASE_URL never drops real data."""
    import re
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]+", name) or "bench" not in name:
        raise SystemExit(
            f"Refusing to drop '{name}': the bench database name must contain 'bench'."
        )
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# issue 18 (payload): predictions keep their envelope (input, output, signals, lineage) in the
# payload side table. The benches write wide rows (the old shape) into a temporary table with
# ``WIDE``, then ``wide_split`` moves them: the narrow row to the predictions, the envelope to
# the payload table, with the same ids (drawn from the predictions' sequence by the default).
WIDE = "bench_wide_prediction"
PAYLOAD_COLUMNS = ("input", "output", "signals", "lineage")


def wide_create(cursor) -> None:
    cursor.execute(f"CREATE TEMP TABLE {WIDE} (LIKE reviewapp_prediction INCLUDING DEFAULTS)")
    cursor.execute(
        f"ALTER TABLE {WIDE} ALTER COLUMN id SET DEFAULT"
        " nextval(pg_get_serial_sequence('reviewapp_prediction', 'id'))"
    )
    for column in PAYLOAD_COLUMNS:
        cursor.execute(f"ALTER TABLE {WIDE} ADD COLUMN {column} jsonb NOT NULL DEFAULT '{{}}'")


def wide_split(cursor) -> None:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'reviewapp_prediction' ORDER BY ordinal_position"
    )
    narrow = ", ".join(name for (name,) in cursor.fetchall())
    cursor.execute(f"INSERT INTO reviewapp_prediction ({narrow}) SELECT {narrow} FROM {WIDE}")
    payload = ", ".join(PAYLOAD_COLUMNS)
    cursor.execute(
        f"INSERT INTO reviewapp_predictionpayload (prediction_id, received_at, model_id,"
        f" {payload}) SELECT id, received_at, model_id, {payload} FROM {WIDE}"
    )
    cursor.execute(f"DROP TABLE {WIDE}")
