"""``manage.py seed_playbooks``: the demo's five playbooks and three months of demo incidents
on the demo models (seed_demo calls it by name, so the queue's command imports nothing from
this app). Idempotent."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from playbooks import demo
from playbooks.incidents import demo as incidents_demo
from reviewapp.core.exceptions import ServiceError


class Command(BaseCommand):
    help = "Load the demo playbooks (data drift, schema change, miscalibration, latency, labels)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--owner", default=demo.OWNER, help="Username of their owner.")

    def handle(self, *args, owner: str, **options) -> None:
        try:
            with transaction.atomic():
                created = demo.seed_playbooks(owner=owner)
                incidents = incidents_demo.seed_incidents()
        except ServiceError as exc:
            # e.g. no engineer or lead of that name yet: say which field, change nothing
            raise CommandError(f"{exc.message} {exc.errors}") from None
        self.stdout.write(f"Playbooks: {created} created. Demo incidents: {incidents} created.")
