import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.governance.services import (
    change_request_bootstrap,
    change_request_create,
    change_request_submit,
)


class Command(BaseCommand):
    help = (
        "Propose a new routing policy for a model from a rules JSON file or string (see "
        "docs/policies.md): drafts a change request for the committee; nothing is activated. "
        "--bootstrap applies a model's very first policy as the system instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("model_slug")
        parser.add_argument("rules", help="Path to a JSON file, or a JSON object inline.")
        parser.add_argument(
            "--rationale", "--note", dest="rationale", default="",
            help="Why the change is needed (required).",
        )  # fmt: skip
        parser.add_argument(
            "--user", default="", help="The proposer's username (an engineer or a lead)."
        )
        parser.add_argument(
            "--submit", action="store_true", help="Submit the draft for review at once."
        )
        parser.add_argument(
            "--bootstrap",
            action="store_true",
            help="The model has no policy yet: apply this first version now, as the system "
            "(on the record as a change request with no base).",
        )
        parser.add_argument(
            "--activate",
            action="store_true",
            help="Refused: versions become active only through an approved change request.",
        )

    def handle(
        self, *args, model_slug: str, rules: str, rationale: str, user: str, submit: bool,
        bootstrap: bool, activate: bool, **options,
    ) -> None:  # fmt: skip
        if activate:
            raise CommandError(
                "--activate: policies change only through a change request the committee "
                "approves (or --bootstrap for a model's first policy)."
            )
        parsed = self._rules(rules)
        if not rationale.strip():
            raise CommandError("--rationale: required (say why the change is needed).")
        try:
            if bootstrap:
                cr = change_request_bootstrap(
                    model_slug=model_slug, kind="routing_policy", document=parsed,
                    rationale=rationale, actor=Actor.system("cli"),
                )  # fmt: skip
                self.stdout.write(
                    f"Applied {model_slug} v{cr.applied_version} ({cr.document_hash}) by "
                    f"bootstrap change request #{cr.pk}, active."
                )
                return
            proposer = get_user_model().objects.filter(username=user, is_active=True).first()
            if proposer is None:
                raise CommandError(f"--user: no active user '{user}'.")
            cr = change_request_create(
                model_slug=model_slug, user=proposer, document=parsed, rationale=rationale
            )
            if submit:
                change_request_submit(change_request_id=cr.pk, user=proposer)
                cr.refresh_from_db()
        except ServiceError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
            raise CommandError(f"{exc.message} {problems}") from None
        base = f"v{cr.base_version}" if cr.base_version else "no base (first version)"
        self.stdout.write(
            f"Drafted change request #{cr.pk} for {model_slug} ({cr.document_hash}) on {base}, "
            f"{cr.get_status_display().lower()}; not active until the committee approves it."
        )

    def _rules(self, rules: str):
        text = rules
        if not rules.lstrip().startswith(("{", "[")):
            try:
                text = Path(rules).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"rules: cannot read the file {rules} ({exc}).") from None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise CommandError(f"rules: not valid JSON ({exc}).") from None
