"""``manage.py seed_quality``: the demo's review quality, played through the services.

``seed_demo`` calls it by name after the month of history (the queue imports nothing from this
app). It gives card-fraud and support-triage review-quality settings (bootstrap change
requests, as the first policies are), marks gold on both, serves gold to ana and ravi on
support-triage over the last two weeks and has them answer it, leaves two support-triage
disagreements waiting for lee's adjudication, hides the model's answer on a few open items,
and adds ravi to the card-fraud pool, where he starts with a qualification set. Idempotent: a
database that already has review-quality settings is left alone.
"""

from __future__ import annotations

import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F

from reviewapp.core import clock
from reviewapp.core.audit import Actor
from reviewapp.governance.models import DocumentKind, DocumentVersion
from reviewapp.governance.services.rollback import change_request_bootstrap
from reviewapp.models import Decision, MLModel, Purpose, ReviewItem
from reviewapp.services.claims import review_item_take
from reviewapp.services.decisions import review_item_decide
from reviewapp.services.pools import pool_member_add

from ...demo import seed_gold
from ...models import GoldItem
from ...services.alerts import reviewers_check
from ...services.gold import gold_mark, gold_serve

SETTINGS = {
    "card-fraud": {
        "gold_rate": 0.02,
        "adversarial_gold_share": 0.3,
        "second_review_rate": 0.05,
        "risky_override_confidence": 0.9,
        "risky_labels": [],
        "suggestion_mask_rate": 0.05,
        "qualification_size": 5,
        "qualification_pass": 0.8,
        "gold_accuracy_alert": 0.7,
        "fast_accept_ratio": 0.35,
        "guideline_ack_required": True,
    },
    "support-triage": {
        "gold_rate": 0.1,
        "adversarial_gold_share": 0.3,
        "second_review_rate": 0.05,
        "risky_override_confidence": 0.95,
        "risky_labels": ["abuse"],
        "suggestion_mask_rate": 0.05,
        "qualification_size": 0,
        "qualification_pass": 0.8,
        "gold_accuracy_alert": 0.7,
        "fast_accept_ratio": 0.35,
        "guideline_ack_required": True,
    },
}
# How often each demo reviewer gets a gold item right (ana agrees with the model by habit on
# a third of the cases where it was wrong: her rubber-stamp index shows it).
RIGHT = {"ana": 0.7, "ravi": 0.9}
SERVING_DAYS = 14


class Command(BaseCommand):
    help = "Seed the demo's review quality (settings, gold, servings, adjudications)."

    def handle(self, *args, **options) -> None:
        if DocumentVersion.objects.filter(kind=DocumentKind.REVIEW_QUALITY).exists():
            self.stdout.write("Review-quality demo already present; not seeding again.")
            return
        if not MLModel.objects.filter(slug__in=SETTINGS).exists():
            self.stdout.write("No demo models; run seed_demo first.")
            return
        users = {u.username: u for u in get_user_model().objects.filter(
            username__in=["ana", "ravi", "lee"])}  # fmt: skip
        now = clock.now()
        start = now - dt.timedelta(days=SERVING_DAYS + 1)
        rng = random.Random(17)  # noqa: S311 - demo data
        with clock.travel(start), transaction.atomic():
            for slug, document in SETTINGS.items():
                change_request_bootstrap(
                    model_slug=slug,
                    kind=DocumentKind.REVIEW_QUALITY,
                    document=document,
                    rationale="Initial review-quality settings from seed_demo.",
                    actor=Actor.system("seed_demo"),
                )
            marked = seed_gold() + self._support_gold(users["lee"])
        served = self._servings(users, start, now, rng)
        waiting = self._disagreements(users)
        masked = self._masked()
        with transaction.atomic():
            card_fraud = MLModel.objects.get(slug="card-fraud")
            pool_member_add(model=card_fraud, user=users["ravi"], by=users["lee"])
        alerts = reviewers_check(now=clock.now())
        self.stdout.write(
            f"Review quality: {marked} gold items, {served} gold answers, {waiting} waiting for "
            f"adjudication, {masked} items with the model's answer hidden, {len(alerts)} alerts; "
            "ravi qualifies for card-fraud."
        )

    def _support_gold(self, lead) -> int:
        """Sixteen support-triage gold items, half from each reviewer's decisions, five where the
        model was wrong."""
        if GoldItem.objects.filter(model__slug="support-triage").exists():
            return 0
        decided = Decision.objects.filter(
            model__slug="support-triage",
            item__purpose=Purpose.ROUTED,
            item__status="decided",
            undone_at__isnull=True,
            held=False,
            action__in=Decision.FINAL_ACTIONS,
        ).order_by("-decided_at", "-id")
        picks: list[int] = []
        for username in ("ana", "ravi"):
            mine = decided.filter(reviewer__username=username)
            wrong = mine.filter(action=Decision.Action.OVERRIDE).exclude(
                final_label=F("prediction__label")
            )
            picks += list(wrong.values_list("item_id", flat=True)[: 3 if username == "ana" else 2])
            picks += list(mine.filter(action=Decision.Action.ACCEPT).values_list(
                "item_id", flat=True)[:5 if username == "ana" else 6])  # fmt: skip
        for item_id in dict.fromkeys(picks):
            gold_mark(
                item_id=item_id,
                user=lead,
                rationale="Demo gold: confirmed by the support team's resolution notes.",
            )
        return len(set(picks))

    def _servings(self, users, start: dt.datetime, now: dt.datetime, rng: random.Random) -> int:
        """Each day of the last two weeks: beat serves the gold each reviewer has earned, and
        they answer it a few minutes later (right at their demo rate)."""
        answered = 0
        for day in range(SERVING_DAYS):
            at = (start + dt.timedelta(days=day + 1)).replace(hour=11, minute=0)
            if at >= now:
                break
            with clock.travel(at):
                gold_serve(now=at, rng=rng)
            for item in ReviewItem.objects.filter(
                purpose=Purpose.GOLD, status=ReviewItem.Status.PENDING
            ).select_related("prediction", "model", "gold_serving__gold", "for_reviewer"):
                reviewer = item.for_reviewer
                gold = item.gold_serving.gold
                later = at + dt.timedelta(minutes=rng.randint(5, 90))
                right = rng.random() < RIGHT.get(reviewer.username, 0.85)
                label = gold.label if right else (
                    item.prediction.label if gold.adversarial else next(
                        (x for x in item.model.labels if x != gold.label), gold.label))  # fmt: skip
                with clock.travel(later), transaction.atomic():
                    taken = review_item_take(item_id=item.pk, user=reviewer)
                with clock.travel(later + dt.timedelta(seconds=rng.randint(15, 70))):
                    self._decide(
                        taken, reviewer, label, reason="Checked against the ticket history."
                    )
                answered += 1
        return answered

    @staticmethod
    def _decide(item: ReviewItem, user, label: str, *, reason: str) -> Decision:
        accept = label == item.prediction.label
        return review_item_decide(
            item_id=item.pk,
            user=user,
            action="accept" if accept else "override",
            generation=item.claim_generation,
            label="" if accept else label,
            reason="" if accept else reason,
        )

    def _disagreements(self, users) -> int:
        """Two support-triage tickets the model called abuse (a risky label there: each
        decision gets a blind second review): ana says it is something else, ravi, second-
        reviewing blind, agrees with the model. They wait for lee's adjudication."""
        open_items = list(
            ReviewItem.objects.filter(
                model__slug="support-triage",
                purpose=Purpose.ROUTED,
                status=ReviewItem.Status.PENDING,
                claimed_by__isnull=True,
                suggestion_masked=False,
                prediction__label="abuse",
            )
            .select_related("prediction", "model")
            .order_by("-priority", "id")[:2]
        )
        waiting = 0
        for item in open_items:
            at = clock.now() - dt.timedelta(minutes=12 - 5 * waiting)
            with clock.travel(at), transaction.atomic():
                taken = review_item_take(item_id=item.pk, user=users["ana"])
            with clock.travel(at + dt.timedelta(seconds=48)):
                self._decide(taken, users["ana"], "account", reason="Someone using the "
                             "customer's name and photos is an account takeover, not abuse.")  # fmt: skip
            second = ReviewItem.objects.filter(
                prediction_id=item.prediction_id, purpose=Purpose.SECOND_REVIEW
            ).first()
            if second is None:
                continue
            with clock.travel(at + dt.timedelta(minutes=3)), transaction.atomic():
                taken = review_item_take(item_id=second.pk, user=users["ravi"])
            with clock.travel(at + dt.timedelta(minutes=3, seconds=35)):
                self._decide(taken, users["ravi"], item.prediction.label, reason="")
            waiting += 1
        return waiting

    @staticmethod
    def _masked() -> int:
        """A few open routed items as if routed under the masking rate (the month of history
        was routed before the settings existed)."""
        ids = list(
            ReviewItem.objects.filter(
                model__slug__in=SETTINGS,
                purpose=Purpose.ROUTED,
                status=ReviewItem.Status.PENDING,
            )
            .order_by("id")
            .values_list("pk", flat=True)[::7][:4]
        )
        return ReviewItem.objects.filter(pk__in=ids).update(suggestion_masked=True)
