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
