from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.transfer import catalog_import
from reviewapp.core.exceptions import ServiceError

STARTER = Path(__file__).resolve().parents[2] / "fixtures" / "starter_catalog.json"


class Command(BaseCommand):
    help = (
        "Load a catalog JSON document (default: the starter catalog shipped with Failsafe) "
        "through the same path as POST /api/v1/catalog, as the system: the shell's operator "
        "is an administrator, so statuses are restored through the workflow unless --drafts."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=str(STARTER))
        parser.add_argument(
            "--drafts",
            action="store_true",
            help="Do not restore statuses: new entries stay drafts, like an editor's import.",
        )

    def handle(self, *args, path: str, drafts: bool = False, **options) -> None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            result = catalog_import(data=data, restore_status=not drafts)
        except ServiceError as exc:
            lines = [f"  {k}: {' '.join(v)}" for k, v in exc.errors.items()]
            raise CommandError("\n".join([exc.message, *lines[:30]])) from exc
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Catalog loaded: created {result.created}, updated {result.updated}, "
                f"pending review {result.proposed}."
            )
        )
