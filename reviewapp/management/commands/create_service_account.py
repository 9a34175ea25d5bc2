from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.services.accounts import service_account_create


class Command(BaseCommand):
    help = "Create a producer's service account and print its token (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--models", default="", help="Comma-separated model slugs it may send for."
        )

    def handle(self, *args, name: str, models: str, **options) -> None:
        slugs = [s.strip() for s in models.split(",") if s.strip()]
        if not slugs:
            self.stderr.write(
                self.style.WARNING(
                    "No --models given: this token may send predictions for every model."
                )
            )
        try:
            issued = service_account_create(
                name=name, model_slugs=slugs or None, actor=Actor.system("cli")
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Service account '{name}' created. Its token (store it now, it is not shown again):"
        )
        self.stdout.write(issued.token)
