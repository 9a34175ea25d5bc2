import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from reviewapp.governance.replay import RECONSTRUCTED, routing_replay_range
from reviewapp.models import MLModel

MAX_LISTED = 100


def _moment(value: str | None, option: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: not an ISO 8601 time ({value!r}).") from None
    if moment.tzinfo is None:
        raise CommandError(f"{option}: give the zone too, e.g. {value}Z or {value}+01:00.")
    return moment.astimezone(dt.UTC)


class Command(BaseCommand):
    help = (
        "Replay the routing decisions of a model's predictions routed in [--since, --until) "
        "from their stored facts and policy version; print the counts and every mismatch. "
        "Exits with status 1 when any decision does not match (see docs/policies.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="The model's slug.")
        parser.add_argument("--since", help="ISO 8601 time with zone (routed at or after).")
        parser.add_argument("--until", help="ISO 8601 time with zone (routed before).")
        parser.add_argument("--chunk", type=int, default=500, help="Rows read per query.")

    def handle(self, *args, model: str, since, until, chunk: int, **options) -> None:
        start, end = _moment(since, "--since"), _moment(until, "--until")
        if start and end and start >= end:
            raise CommandError("--until: must be after --since.")
        if chunk < 1:
            raise CommandError("--chunk: at least 1.")
        if not MLModel.objects.filter(slug=model).exists():
            raise CommandError(f"--model: no model with the slug {model!r}.")
        # Counts only, so memory stays bounded on any range; the first mismatches are listed.
        checked = reconstructed = mismatches = 0
        for result in routing_replay_range(model_slug=model, since=start, until=end, chunk=chunk):
            checked += 1
            reconstructed += result.facts == RECONSTRUCTED
            if not result.matches:
                mismatches += 1
                if mismatches <= MAX_LISTED:
                    self.stdout.write(
                        f"MISMATCH prediction {result.prediction_id} "
                        f"(policy v{result.policy_version}, facts {result.facts}): "
                        + "; ".join(
                            f"{name} recorded {getattr(result.recorded, name)!r} "
                            f"replayed {getattr(result.replayed, name)!r}"
                            if name != "policy_version"
                            else "policy version belongs to another model"
                            for name in result.differences
                        )
                    )
        if mismatches > MAX_LISTED:
            self.stdout.write(f"… and {mismatches - MAX_LISTED} more mismatches.")
        self.stdout.write(
            f"{model}: {checked} checked, {checked - mismatches} match, "
            f"{mismatches} mismatch, {reconstructed} replayed from reconstructed facts."
        )
        if mismatches:
            raise CommandError(f"{mismatches} routing decisions do not replay.")
