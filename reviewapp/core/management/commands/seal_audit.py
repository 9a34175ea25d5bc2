from django.core.management.base import BaseCommand

from reviewapp.core.audit import audit_seal_all


class Command(BaseCommand):
    help = "Chain every not-yet-sealed audit event now (beat does this every few seconds)."

    def handle(self, *args, **options) -> None:
        sealed = audit_seal_all()
        self.stdout.write(f"Sealed {sealed} audit event(s).")
