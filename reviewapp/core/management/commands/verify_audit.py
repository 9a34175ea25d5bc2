from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.audit import audit_verify_and_record


class Command(BaseCommand):
    help = (
        "Recompute the audit chain and hold it to the checkpoints kept outside the database; "
        "exits non-zero on an edited, removed or re-chained sealed event or a removed tail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--checkpoints",
            metavar="FILE",
            help="Verify against this copy of the checkpoint file (default: AUDIT_CHECKPOINT_FILE).",
        )

    def handle(self, *args, **options) -> None:
        path = options.get("checkpoints")
        if path is not None:
            try:
                open(path, encoding="utf-8").close()
            except OSError as exc:
                raise CommandError(f"--checkpoints: cannot read {path}: {exc.strerror}") from None
        report = audit_verify_and_record(trigger="command", checkpoints_path=path)
        for problem in report.problems:
            self.stderr.write(problem)
        for note in report.notes:
            self.stdout.write(note)
        summary = f"{report.sealed} sealed event(s) checked, {report.unsealed} not sealed yet."
        if report.checkpoint is not None:
            summary += (
                f" {report.checkpoints_checked} checkpoint(s) from {report.checkpoint_source};"
                f" the latest names seal {report.checkpoint.seq} ({report.checkpoint.at})."
            )
        if not report.ok:
            raise CommandError(
                f"Audit chain is broken: {len(report.problems)} problem(s), first bad seal "
                f"{report.first_bad_seq}. {summary}"
            )
        self.stdout.write(f"Audit chain intact. {summary}")
