"""Reviewer pools and per-model review guidelines."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import registry
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.markdown import render_markdown
from reviewapp.models import (
    GuidelineVersion,
    PoolMembership,
)

from .claims import can_review, require_lead

logger = logging.getLogger(__name__)

# Run in the adding / publishing transaction (review quality: qualification sets, guideline
# acknowledgement). ``membership=``, ``by=`` / ``version=``, ``by=``.
POOL_MEMBER_ADDED_HOOK = "queue.pool_member_added"
GUIDELINE_PUBLISHED_HOOK = "queue.guideline_published"


# --- pools and guidelines -------------------------------------------------------------------
def pool_member_add(*, model: Any, user: Any, by: Any) -> PoolMembership:
    require_lead(by)
    if not can_review(user):
        raise ServiceError(
            _("Not a reviewer."),
            errors={
                "user": [
                    _("%(name)s has no reviewer or lead role.") % {"name": user.get_username()}
                ]
            },
            status=422,
        )
    with transaction.atomic():
        membership, created = PoolMembership.objects.get_or_create(
            model=model, user=user, defaults={"added_by": by}
        )
        if created:
            audit_record(
                actor=Actor.user(by),
                verb="queue.pool.member_added",
                target=model,
                data={"user": user.pk, "username": user.get_username()},
            )
            registry.run_hooks(POOL_MEMBER_ADDED_HOOK, membership=membership, by=by)
    return membership


def pool_member_remove(*, model: Any, user: Any, by: Any) -> bool:
    require_lead(by)
    with transaction.atomic():
        deleted, _rows = PoolMembership.objects.filter(model=model, user=user).delete()
        if deleted:
            audit_record(
                actor=Actor.user(by),
                verb="queue.pool.member_removed",
                target=model,
                data={"user": user.pk, "username": user.get_username()},
            )
    return bool(deleted)


def guideline_publish(*, model: Any, body: str, note: str = "", by: Any) -> GuidelineVersion:
    require_lead(by)
    body = (body or "").strip()
    errors: dict[str, list[str]] = {}
    if not body:
        errors["body"] = [_("Write the guideline (Markdown).")]
    elif len(body) > 50_000:
        errors["body"] = [_("At most 50,000 characters.")]
    if len(note or "") > 300:
        errors["note"] = [_("At most 300 characters.")]
    if errors:
        raise ServiceError(_("The guideline has problems."), errors=errors)
    with transaction.atomic():
        from reviewapp.models import MLModel

        # Serialise publishers of one model so versions stay 1, 2, 3…
        MLModel.objects.select_for_update().filter(pk=model.pk).first()
        last = GuidelineVersion.objects.filter(model=model).order_by("-version").first()
        version = GuidelineVersion.objects.create(
            model=model,
            version=(last.version + 1) if last else 1,
            body=body,
            html=render_markdown(body),
            note=(note or "").strip(),
            created_by=by,
        )
        audit_record(
            actor=Actor.user(by),
            verb="queue.guideline.published",
            target=version,
            data={"model": model.slug, "version": version.version},
        )
        registry.run_hooks(GUIDELINE_PUBLISHED_HOOK, version=version, by=by)
    return version
