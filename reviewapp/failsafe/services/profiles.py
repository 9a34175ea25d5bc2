"""Learn each model's feature profile from its recent accepted traffic, and hand routing a
checker per model (the queue's hook ``queue.data_quality_checks``).

Accepted traffic: predictions that passed, or that a reviewer accepted (a final ``accept``
not undone, on an item other than gold or qualification), received in the last
``FAILSAFE_PROFILE_WINDOW_DAYS``; the most recent ``FAILSAFE_PROFILE_SAMPLE`` of them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.models import Decision, MLModel, Prediction, PredictionPayload, Purpose

from ..models import FeatureProfile
from ..profiles import Checker, compile_checker, learn_profile

PROFILER = Actor.system("profiler")
logger = logging.getLogger(__name__)


def accepted_inputs(*, model: MLModel, since: dt.datetime, limit: int) -> list[Any]:
    """The inputs of ``model``'s accepted predictions received since ``since``, newest first."""
    accepted = Decision.objects.filter(
        prediction=OuterRef("pk"), action=Decision.Action.ACCEPT, undone_at__isnull=True
    ).exclude(item__purpose__in=[Purpose.GOLD, Purpose.QUALIFICATION])
    ids = (
        Prediction.objects.filter(model=model, received_at__gte=since)
        .filter(Q(status=Prediction.Status.PASSED) | Exists(accepted))
        .order_by("-received_at", "-id")
        .values_list("id", flat=True)[:limit]
    )
    # The inputs live in the payload side table (a payload the retention policy removed has
    # none); newest first as above.
    return list(
        PredictionPayload.objects.filter(prediction_id__in=ids, model=model)
        .order_by("-received_at", "-prediction_id")
        .values_list("input", flat=True)
    )


def feature_profile_learn(
    *,
    model: MLModel,
    actor: Actor = PROFILER,
    now: dt.datetime | None = None,
    min_rows: int | None = None,
) -> FeatureProfile | None:
    """Learn ``model``'s profile from its recent accepted traffic and store it (audited
    ``failsafe.feature_profile.learned``).

    Too little traffic (fewer than ``FAILSAFE_PROFILE_MIN_ROWS`` accepted JSON-object
    inputs): nothing is written and None is returned; a profile learned earlier stays as it
    was (its ``learned_at`` says how old it is), a model that never had one is not checked.
    ``min_rows`` overrides that minimum (``seed_demo``'s small traffic).
    """
    now = now or clock.now()
    window = int(settings.FAILSAFE_PROFILE_WINDOW_DAYS)
    inputs = accepted_inputs(
        model=model,
        since=now - dt.timedelta(days=window),
        limit=int(settings.FAILSAFE_PROFILE_SAMPLE),
    )
    profile = learn_profile(
        inputs,
        window_days=window,
        min_rows=int(settings.FAILSAFE_PROFILE_MIN_ROWS) if min_rows is None else min_rows,
    )
    if profile is None:
        return None
    with transaction.atomic():
        row = FeatureProfile.objects.select_for_update().filter(model=model).first()
        before = (
            {"sample_size": row.sample_size, "learned_at": row.learned_at.isoformat()}
            if row is not None
            else None
        )
        if row is None:
            row = FeatureProfile(model=model)
        row.profile = profile
        row.sample_size = profile["rows"]
        row.window_days = window
        row.learned_at = now
        row.save()
        audit_record(
            actor=actor,
            verb="failsafe.feature_profile.learned",
            target=model,
            before=before,
            after={"sample_size": row.sample_size, "learned_at": now.isoformat()},
            data={
                "fields": len(profile["fields"]),
                "truncated": profile["truncated"],
                "window_days": window,
            },
        )
        transaction.on_commit(lambda: checkers_forget({model.slug}))
    checkers_forget({model.slug})
    return row


def models_to_profile(*, now: dt.datetime | None = None) -> list[MLModel]:
    """The models that received a prediction within the learning window."""
    now = now or clock.now()
    since = now - dt.timedelta(days=int(settings.FAILSAFE_PROFILE_WINDOW_DAYS))
    recent = Prediction.objects.filter(model=OuterRef("pk"), received_at__gte=since)
    return list(MLModel.objects.filter(Exists(recent)).order_by("slug"))


def feature_profiles_refresh(*, now: dt.datetime | None = None) -> dict[str, int | None]:
    """Learn every model's profile again (beat, hourly): {slug: rows learned from, or None
    when the model had too little accepted traffic}. One transaction per model."""
    return {
        model.slug: (p.sample_size if (p := feature_profile_learn(model=model, now=now)) else None)
        for model in models_to_profile(now=now)
    }


# --- the routing hook -------------------------------------------------------------------------
# Compiled checkers per process, for FAILSAFE_PROFILE_CACHE_SECONDS: routing asks once per
# chunk, and a profile changes hourly, so most chunks cost no query. A slug without a
# profile is remembered too (as None). Learning a profile forgets its slug in this process;
# other processes see it when their entry expires.
_checkers: dict[str, tuple[float, Checker | None]] = {}
_lock = threading.Lock()


def _compiled(slug: str, profile: Any) -> Checker | None:
    """The checker of a stored profile; a profile it cannot read (edited by hand, or from a
    newer version) checks nothing rather than stopping the routing of every chunk."""
    try:
        return compile_checker(profile)
    except (AttributeError, KeyError, TypeError, ValueError):
        logger.warning("feature profile of %s unreadable: not checked", slug, exc_info=True)
        return None


def checkers_forget(slugs: set[str] | None = None) -> None:
    """Drop cached checkers (``slugs``, or all)."""
    with _lock:
        if slugs is None:
            _checkers.clear()
        else:
            for slug in slugs:
                _checkers.pop(slug, None)


def data_quality_checks(*, model_slugs: set[str]) -> dict[str, Checker]:
    """``queue.data_quality_checks``: {slug: check} for the given models that have a profile."""
    ttl = float(settings.FAILSAFE_PROFILE_CACHE_SECONDS)
    clock = time.monotonic()
    cached = {slug: _checkers.get(slug) for slug in model_slugs}
    stale = {slug for slug, entry in cached.items() if entry is None or clock >= entry[0]}
    if stale:
        loaded: dict[str, Checker | None] = dict.fromkeys(stale)
        for slug, profile in FeatureProfile.objects.filter(model__slug__in=stale).values_list(
            "model__slug", "profile"
        ):
            loaded[slug] = _compiled(slug, profile)
        if ttl > 0:
            with _lock:
                for slug, checker in loaded.items():
                    _checkers[slug] = (clock + ttl, checker)
        cached.update({slug: (clock, checker) for slug, checker in loaded.items()})
    return {slug: entry[1] for slug, entry in cached.items() if entry and entry[1] is not None}
