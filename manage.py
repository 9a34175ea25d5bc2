#!/usr/bin/env python
import base64
import os
import secrets
import sys

# Commands that only read model definitions never sign, encrypt or seal anything, so they run
# without the production secrets (e.g. `manage.py makemigrations --check` on a fresh checkout).
# Each secret they lack gets a fresh random stand-in that is never stored or used.
SECRETLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate"}


def _stand_ins(command: str) -> dict[str, str]:
    return {
        "SECRET_KEY": f"unused-by-{command}-{secrets.token_urlsafe(16)}",
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "AUDIT_CHAIN_KEYS": "unused:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "METRICS_TOKEN": secrets.token_urlsafe(16),
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    if len(sys.argv) > 1 and sys.argv[1] in SECRETLESS_COMMANDS:
        for name, value in _stand_ins(sys.argv[1]).items():
            os.environ.setdefault(name, value)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
