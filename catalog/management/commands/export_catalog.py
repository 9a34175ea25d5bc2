from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from catalog.transfer import catalog_export


class Command(BaseCommand):
    help = "Write the whole catalog as JSON (to a file, or stdout)."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", default="-")

    def handle(self, *args, output: str, **options) -> None:
        text = json.dumps(catalog_export(), indent=2, ensure_ascii=False) + "\n"
        if output == "-":
            sys.stdout.write(text)
        else:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
            self.stderr.write(f"Wrote {output}")
