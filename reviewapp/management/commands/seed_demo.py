from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from reviewapp import demo, demo_media
from reviewapp.core import clock, roles
from reviewapp.core.audit import Actor
from reviewapp.dashboards.services import rollups_fold
from reviewapp.demo_history import history_build
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

# The default history: a month at about 100 predictions a day over the three models (busier
# on weekdays), which seeds in well under a minute on SQLite (docs/performance.md).
DEFAULT_DAYS = 30
DEFAULT_RATE = 100.0
MAX_DAYS = 365

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
        parser.add_argument(
            "--predictions",
            type=int,
            default=300,
            help="Fresh predictions in the minutes to hours before now, left in the queue "
            "while their SLA deadline is comfortably ahead (default 300).",
        )
        parser.add_argument(
            "--credentials-file-only",
            action="store_true",
            help="Write the sign-in details to var/demo-credentials.txt without printing them "
            "(make run prints them once the app answers).",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=DEFAULT_DAYS,
            help=f"Days of history before today, written through the services "
            f"(default {DEFAULT_DAYS}; 0 for none).",
        )
        parser.add_argument(
            "--rate",
            type=float,
            default=DEFAULT_RATE,
            help=f"Average predictions a day over all demo models in the history "
            f"(default {DEFAULT_RATE:g}).",
        )

    def handle(
        self, *args, if_empty: bool, predictions: int, days: int, rate: float, **options
    ) -> None:
        self.print_credentials = not options.get("credentials_file_only")
        if not 0 <= days <= MAX_DAYS:
            raise CommandError(f"--days: give a whole number of days from 0 to {MAX_DAYS}.")
        if not 0 < rate <= 100_000:
            raise CommandError("--rate: give predictions a day, more than 0 and at most 100000.")
        if predictions < 0:
            raise CommandError("--predictions: give 0 or more.")
        if if_empty and MLModel.objects.exists():
            self.stdout.write("Demo data already present; not seeding again.")
            return
        started = time.monotonic()
        now = clock.now()
        # Models, policies, users, pools and the token exist from the day before the history
        # starts, so the audit log reads in order.
        setup_at = (now - dt.timedelta(days=days + 1)).replace(
            hour=8, minute=0, second=0, microsecond=0
        )
        actor = Actor.system("seed_demo")
        created_any = False
        with clock.travel(setup_at), transaction.atomic():
            for spec in demo.DEMO_MODELS:
                model, created = MLModel.objects.get_or_create(
                    slug=spec["slug"],
                    defaults={
                        **{
                            k: spec[k]
                            for k in ("name", "owner_team", "criticality", "labels", "description")
                        },
                        "presentation": demo_media.DEMO_PRESENTATIONS.get(spec["slug"], {}),
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
            failsafe_demo.seed_owners()

        # Playbooks (issue 16), by command name: the queue imports nothing from playbooks.
        call_command("seed_playbooks", stdout=self.stdout)

        account = ServiceAccount.objects.get(name=DEMO_SERVICE)
        if not created_any:
            # A seeded database keeps its history: a second one would be a second month.
            self._write_credentials(token)
            self.stdout.write(
                "Demo models already present: kept their history and rotated the demo token."
            )
            return
        # The fail-safe week's steps run in their place in the timeline (with no history,
        # before the fresh traffic, as they always did).
        steps = failsafe_demo.history_steps(now=now)
        if days < 1:
            for at, step in steps:
                with clock.travel(at):
                    step()
            steps = []
        stats = history_build(
            account=account, days=days, rate=rate, fresh=predictions, now=now, extra_steps=steps
        )
        # Routed here rather than by the worker, so the proposal's evidence replays them (the
        # worker's routing tasks then find nothing left to do).
        self._data_quality(account, actor)
        self._proposal()
        # Review quality (issue 17), by command name: the queue imports nothing from it.
        call_command("seed_quality", stdout=self.stdout)
        # The dashboards read rollups: fold the month once now rather than leave it to beat.
        rollups_fold(batch_size=5000, max_batches=10_000)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {len(demo.DEMO_MODELS)} models with {days} days of history: "
                f"{stats.predictions} predictions, {stats.decisions} decisions, "
                f"{stats.open_items} items open now, in {time.monotonic() - started:.0f} s."
            )
        )
        self._write_credentials(token)

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
            document={
                "criticality": model.criticality,
                **DEMO_PROFILES[model.criticality],
                **({"strict_output": True} if spec.get("strict_output") else {}),
            },
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
        # One hash for every demo user: each one costs the hasher's full work factor (about
        # 0.7 s here), and they share the password anyway.
        password = make_password(DEMO_PASSWORD)
        for username, first, last, groups in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "password": password},
            )
            user.groups.add(*Group.objects.filter(name__in=groups))
        User.objects.get_or_create(
            username="admin",
            defaults={"is_staff": True, "is_superuser": True, "password": password},
        )

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
                version = guideline_publish(
                    model=model, body=body, note="Initial guideline from seed_demo.", by=lead
                )
                # --- quality (people): the demo's reviewers have read their first guideline
                # (publishing asks every member to acknowledge it before claiming again).
                PoolMembership.objects.filter(model=model).update(
                    guideline_pending=False, guideline_acked=version.version
                )
                # --- end quality (people)

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
        if self.print_credentials:
            self.stdout.write(text)
        else:
            self.stdout.write(f"Sign-in details written to {path}")
