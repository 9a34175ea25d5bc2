from __future__ import annotations

from django.core.management.base import BaseCommand

from reviewapp.core.audit import Actor
from reviewapp.dashboards.services import rollups_fold, rollups_rebuild


class Command(BaseCommand):
    help = (
        "Drop the dashboard rollups and fold everything again from the raw tables "
        "(after changing DASHBOARD_BUCKET_MINUTES). Reads every prediction and decision once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-fold", action="store_true", help="Only reset; let beat fold.")

    def handle(self, *args, **options):
        after = rollups_rebuild(actor=Actor.system("manage.py dashboards_rebuild"))
        self.stdout.write(f"Rollups reset ({after['bucket_minutes']}-minute buckets).")
        if options["no_fold"]:
            return
        total = 0
        while True:
            result = rollups_fold(batch_size=5000, max_batches=20)
            total += result.rows
            self.stdout.write(f"  folded {total} rows")
            if result.caught_up:
                break
        self.stdout.write(self.style.SUCCESS(f"Done: {total} rows folded."))
