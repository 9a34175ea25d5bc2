from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from reviewapp import demo
from reviewapp.core import roles
from reviewapp.core.audit import Actor
from reviewapp.failsafe import demo as failsafe_demo
from reviewapp.failsafe.services.profiles import feature_profile_learn
from reviewapp.governance.services import (
    change_request_bootstrap,
    change_request_create,
    change_request_submit,
)
from reviewapp.models import MLModel, ServiceAccount
from reviewapp.services.accounts import service_account_create, service_token_rotate
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route

DEMO_PASSWORD = "failsafe-demo"  # noqa: S105 - demo data, printed to the operator on purpose
DEMO_USERS = [
    ("ana", "Ana", "Reviewer", [roles.REVIEWER]),
    ("ravi", "Ravi", "Reviewer", [roles.REVIEWER]),
    ("lee", "Lee", "Lead", [roles.LEAD]),
    ("cora", "Cora", "Committee", [roles.COMMITTEE]),
    ("cole", "Cole", "Committee", [roles.COMMITTEE]),
    ("cleo", "Cleo", "Committee", [roles.COMMITTEE]),
    ("edith", "Edith", "Catalog editor", [roles.CATALOG_EDITOR]),
    ("emil", "Emil", "Catalog editor", [roles.CATALOG_EDITOR]),
    ("sam", "Sam", "Engineer", [roles.ENGINEER]),
]
DEMO_SERVICE = "demo-producer"
# The demo's traffic is small: profiles are learned from fewer accepted predictions than
# production's FAILSAFE_PROFILE_MIN_ROWS.
DEMO_PROFILE_MIN_ROWS = 40
# The demo models' business profiles by criticality (governed "model_settings" documents).
DEMO_PROFILES = {
    "critical": {"cost_of_wrong_decision": 250.0, "cost_per_hour_of_delay": 40.0,
                 "regulatory_class": "regulated"},
    "high": {"cost_of_wrong_decision": 400.0, "cost_per_hour_of_delay": 120.0,
             "regulatory_class": "high_risk"},
    "medium": {"cost_of_wrong_decision": 5.0, "cost_per_hour_of_delay": 2.0,
               "regulatory_class": "none"},
    "low": {"cost_of_wrong_decision": 1.0, "cost_per_hour_of_delay": 0.5,
            "regulatory_class": "none"},
}  # fmt: skip


class Command(BaseCommand):
    help = "Register demo models, policies, users and a service token, and push synthetic traffic."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if models exist.")
        parser.add_argument("--predictions", type=int, default=300)

    def handle(self, *args, if_empty: bool, predictions: int, **options) -> None:
        if if_empty and MLModel.objects.exists():
            self.stdout.write("Demo data already present; not seeding again.")
            return
        actor = Actor.system("seed_demo")
        created_any = False
        with transaction.atomic():
            for spec in demo.DEMO_MODELS:
                model, created = MLModel.objects.get_or_create(
                    slug=spec["slug"],
                    defaults={
                        k: spec[k]
                        for k in ("name", "owner_team", "criticality", "labels", "description")
                    },
                )
                if created:
                    self._bootstrap(model, spec, actor)
                    created_any = True
            self._users()
            call_command("load_catalog", stdout=self.stdout)
            self._pools_and_guidelines(actor)
            if ServiceAccount.objects.filter(name=DEMO_SERVICE).exists():
                token = service_token_rotate(name=DEMO_SERVICE, actor=actor).token
            else:
                token = service_account_create(
                    name=DEMO_SERVICE, model_slugs=None, actor=actor
                ).token

        # Before the traffic: yesterday's containment must not take today's demo predictions
        # as its shift sample. Both steps guard their own re-runs.
        with transaction.atomic():
            failsafe_demo.seed_owners()
            failsafe_demo.seed_history()

        # Playbooks (issue 16), by command name: the queue imports nothing from playbooks.
        call_command("seed_playbooks", stdout=self.stdout)

        account = ServiceAccount.objects.get(name=DEMO_SERVICE)
        stored = 0
        accepted: list[int] = []
        traffic = demo.envelopes(predictions, seed=11)
        for start in range(0, len(traffic), 100):
            results = prediction_batch_ingest(
                envelopes=traffic[start : start + 100], account=account
            )
            stored += sum(result.status == "accepted" for result in results)
            accepted.extend(result.id for result in results if result.status == "accepted")
        if created_any:
            # Routed here rather than by the worker, so the proposal's evidence replays them
            # (the worker's routing tasks then find nothing left to do).
            for start in range(0, len(accepted), 500):
                predictions_route(ids=accepted[start : start + 500])
            self._data_quality(account, actor)
            self._proposal()
        self._write_credentials(token)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {len(demo.DEMO_MODELS)} models and sent {stored} predictions to the worker."
            )
        )

    def _bootstrap(self, model: MLModel, spec: dict, actor: Actor) -> None:
        """A new demo model's first policy and settings: bootstrap change requests (no base)
        that the system applies at once, so the demo routes from the first prediction. Every
        later change goes through the committee."""
        change_request_bootstrap(
            model_slug=model.slug,
            kind="routing_policy",
            document=spec["rules"],
            rationale="Initial policy from seed_demo.",
            actor=actor,
        )
        change_request_bootstrap(
            model_slug=model.slug,
            kind="model_settings",
            document={"criticality": model.criticality, **DEMO_PROFILES[model.criticality]},
            rationale="Initial settings from seed_demo.",
            actor=actor,
        )

    def _data_quality(self, account: ServiceAccount, actor: Actor) -> None:
        """Learn each demo model's feature profile from the traffic just routed (a lower
        minimum than production's: the demo sends a few hundred predictions), then send a few
        card-fraud predictions with unusual inputs, so the queue holds items whose review
        page shows data diagnostics."""
        learned = [
            model.slug
            for model in MLModel.objects.filter(slug__in=[m["slug"] for m in demo.DEMO_MODELS])
            if feature_profile_learn(model=model, actor=actor, min_rows=DEMO_PROFILE_MIN_ROWS)
        ]
        if "card-fraud" not in learned:
            return
        results = prediction_batch_ingest(envelopes=demo.anomalous_envelopes(), account=account)
        predictions_route(ids=[r.id for r in results if r.status == "accepted"])

    def _proposal(self) -> None:
        """A change request in review, so the committee's home has something to vote on: sam
        proposes to review card-fraud's 0.70-0.75 band. Its evidence is computed by the worker
        on the traffic just sent."""
        sam = get_user_model().objects.get(username="sam")
        spec = next(s for s in demo.DEMO_MODELS if s["slug"] == "card-fraud")
        with transaction.atomic():
            cr = change_request_create(
                model_slug="card-fraud",
                user=sam,
                document={**spec["rules"], "min_confidence": 0.75},
                rationale=(
                    "Overrides cluster just above the 0.70 threshold: review the 0.70-0.75 band "
                    "too, and watch the override rate for an hour after it goes live."
                ),
                rollback_triggers=[
                    {"metric": "override_rate", "op": ">", "bound": 0.3, "duration_minutes": 60}
                ],
            )
            change_request_submit(change_request_id=cr.pk, user=sam)

    def _users(self) -> None:
        User = get_user_model()
        for username, first, last, groups in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            user.groups.add(*Group.objects.filter(name__in=groups))
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()

    def _pools_and_guidelines(self, actor: Actor) -> None:
        """Reviewer pools (ana: every model, ravi: support tickets only) and a first guideline."""
        from reviewapp.models import GuidelineVersion, PoolMembership
        from reviewapp.services.pools import guideline_publish

        User = get_user_model()
        lead = User.objects.get(username="lee")
        pools = {"ana": [m["slug"] for m in demo.DEMO_MODELS], "ravi": ["support-triage"]}
        for username, slugs in pools.items():
            user = User.objects.get(username=username)
            for model in MLModel.objects.filter(slug__in=slugs):
                PoolMembership.objects.get_or_create(
                    model=model, user=user, defaults={"added_by": lead}
                )
        for spec in demo.DEMO_MODELS:
            model = MLModel.objects.get(slug=spec["slug"])
            if not GuidelineVersion.objects.filter(model=model).exists():
                body = (
                    f"## {spec['name']}\n\n"
                    "- **Accept** when the inputs support the model's label.\n"
                    "- **Override** when they clearly point to another label; say which input decided it.\n"
                    "- **Escalate** when you would need information you cannot see here.\n"
                    "- **Defer** only when the information will exist later (say when).\n"
                )
                guideline_publish(
                    model=model, body=body, note="Initial guideline from seed_demo.", by=lead
                )

    def _write_credentials(self, token: str) -> None:
        port = os.environ.get("PORT", "8000")
        lines = [
            "Failsafe demo credentials (development only)",
            f"Sign in at http://127.0.0.1:{port}/accounts/login/",
            f"Password for every demo user: {DEMO_PASSWORD}",
            *[f"  {u:<6} {', '.join(g)}" for u, _, _, g in DEMO_USERS],
            "  admin  superuser (Django admin at /admin/)",
            f"Demo service token ({DEMO_SERVICE}, all models):",
            f"  {token}",
        ]
        text = "\n".join(lines) + "\n"
        path = Path(settings.VAR_DIR) / "demo-credentials.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o600)
        self.stdout.write(text)
