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
