#!/usr/bin/env python
import os
import sys

# Commands that only read model definitions never sign anything, so they run without the
# production secret (e.g. `manage.py makemigrations --check` on a fresh checkout).
SECRETLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    if len(sys.argv) > 1 and sys.argv[1] in SECRETLESS_COMMANDS:
        os.environ.setdefault("SECRET_KEY", f"unused-by-{sys.argv[1]}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
