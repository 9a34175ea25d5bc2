from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.services.accounts import service_token_rotate


class Command(BaseCommand):
    help = "Issue a new token for a service account; the old one stops working at once."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options) -> None:
        try:
            issued = service_token_rotate(name=name, actor=Actor.system("cli"))
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"New token for '{name}' (the previous one no longer works):")
        self.stdout.write(issued.token)
