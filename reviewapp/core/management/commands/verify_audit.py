from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.audit import audit_verify


class Command(BaseCommand):
    help = "Recompute the audit hash chain; exits non-zero if any sealed event was altered."

    def handle(self, *args, **options) -> None:
        report = audit_verify()
        for problem in report.problems:
            self.stderr.write(problem)
        summary = f"{report.sealed} sealed event(s) checked, {report.unsealed} not sealed yet."
        if not report.ok:
            raise CommandError(
                f"Audit chain is broken: {len(report.problems)} problem(s). {summary}"
            )
        self.stdout.write(f"Audit chain intact. {summary}")
