from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.services.accounts import service_token_revoke


class Command(BaseCommand):
    help = "Revoke a service account's token; rotate_service_token issues a new one."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options) -> None:
        try:
            service_token_revoke(name=name, actor=Actor.system("cli"))
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Token of '{name}' revoked.")
