from django.core.management.base import BaseCommand

from reviewapp.core.audit import audit_seal_run


class Command(BaseCommand):
    help = (
        "Chain every not-yet-sealed audit event now and write a checkpoint of the head outside "
        "the database (beat does this every few seconds)."
    )

    def handle(self, *args, **options) -> None:
        sealed = audit_seal_run(all_batches=True)
        self.stdout.write(f"Sealed {sealed} audit event(s).")
