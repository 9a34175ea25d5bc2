"""Guideline acknowledgement: after a new guideline version (when the model's review-quality
settings say ``guideline_ack_required``), a pool member takes live items again only once they
said they read it. The claim skips ``guideline_pending`` members' live items."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import NotFound
from reviewapp.models import GuidelineVersion, PoolMembership

from ..settings import quality_settings
from .people_common import membership_for_update


def current_guideline(model_id: int) -> GuidelineVersion | None:
    return GuidelineVersion.objects.filter(model_id=model_id).order_by("-version").first()


def guideline_published(*, version: GuidelineVersion, by: Any) -> list[int]:
    """The queue's ``queue.guideline_published`` hook: every member who has not acknowledged
    this version must read it first. One event names them all."""
    model = version.model
    if not quality_settings(model.slug)["guideline_ack_required"]:
        return []
    members = PoolMembership.objects.filter(model=model, guideline_acked__lt=version.version)
    user_ids = sorted(members.values_list("user_id", flat=True))
    if not user_ids:
        return []
    members.update(guideline_pending=True)
    audit_record(
        actor=Actor.user(by) if by is not None else Actor.system("quality"),
        verb="quality.guideline.ack_requested",
        target=version,
        data={"model": model.slug, "version": version.version, "members": user_ids},
        subjects={"auth.user": user_ids},
    )
    return user_ids


def guideline_required_at_join(*, membership: PoolMembership, by: Any) -> bool:
    """A new member reads the current guideline first (when the setting is on)."""
    version = current_guideline(membership.model_id)
    if version is None or not quality_settings(membership.model.slug)["guideline_ack_required"]:
        return False
    PoolMembership.objects.filter(pk=membership.pk).update(guideline_pending=True)
    membership.guideline_pending = True
    audit_record(
        actor=Actor.user(by) if by is not None else Actor.system("quality"),
        verb="quality.guideline.ack_requested",
        target=version,
        data={"model": membership.model.slug, "version": version.version,
              "members": [membership.user_id], "at_join": True},
        subjects={"auth.user": [membership.user_id]},
    )  # fmt: skip
    return True


def guideline_acknowledge(*, model_id: int, user: Any) -> PoolMembership:
    """``user`` read the current guideline of ``model_id``."""
    with transaction.atomic():
        membership = membership_for_update(model_id=model_id, user_id=user.pk)
        version = current_guideline(model_id)
        if version is None:
            raise NotFound(_("This model has no guideline yet."), field="model")
        before = {"guideline_pending": membership.guideline_pending,
                  "guideline_acked": membership.guideline_acked}  # fmt: skip
        membership.guideline_pending = False
        membership.guideline_acked = version.version
        membership.save(update_fields=["guideline_pending", "guideline_acked"])
        audit_record(
            actor=Actor.user(user),
            verb="quality.guideline.acknowledged",
            target=version,
            before=before,
            after={"guideline_pending": False, "guideline_acked": version.version},
            data={"model": membership.model.slug, "version": version.version},
            subjects={"auth.user": [user.pk]},
        )
    return membership
