"""``manage.py seed_playbooks``: the demo's five playbooks (seed_demo calls it by name, so the
queue's command imports nothing from this app). Idempotent."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from playbooks import demo


class Command(BaseCommand):
    help = "Load the demo playbooks (data drift, schema change, miscalibration, latency, labels)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--owner", default=demo.OWNER, help="Username of their owner.")

    def handle(self, *args, owner: str, **options) -> None:
        with transaction.atomic():
            created = demo.seed_playbooks(owner=owner)
        self.stdout.write(f"Playbooks: {created} created.")
