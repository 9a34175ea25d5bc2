import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.governance.services import policy_version_create
from reviewapp.models import MLModel


class Command(BaseCommand):
    help = (
        "Create a new immutable policy version for a model from a rules JSON file or string "
        "(see docs/policies.md). Until the change-request workflow exists, this and the admin "
        "are how versions are made."
    )

    def add_arguments(self, parser):
        parser.add_argument("model_slug")
        parser.add_argument("rules", help="Path to a JSON file, or a JSON object inline.")
        parser.add_argument("--note", default="")
        parser.add_argument(
            "--activate", action="store_true", help="Make it the active version now."
        )

    def handle(
        self, *args, model_slug: str, rules: str, note: str, activate: bool, **options
    ) -> None:
        text = rules
        if not rules.lstrip().startswith(("{", "[")):
            try:
                text = Path(rules).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"rules: cannot read the file {rules} ({exc}).") from None
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"rules: not valid JSON ({exc}).") from None
        model = MLModel.objects.filter(slug=model_slug).first()
        if model is None:
            raise CommandError(f"model_slug: no registered model '{model_slug}'.")
        try:
            policy = policy_version_create(
                model_slug=model_slug,
                rules=parsed,
                labels=model.labels,
                note=note,
                activate=activate,
                actor=Actor.system("cli"),
            )
        except ServiceError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
            raise CommandError(f"{exc.message} {problems}") from None
        state = "active" if policy.is_active else "not active"
        self.stdout.write(f"Created {model_slug} v{policy.version} ({policy.rules_hash}), {state}.")
