"""The catalog's audit verbs (``catalog.``): label of each, and the names they replaced."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "catalog."

VERBS = {
    "catalog.failure_mode.created": _("Failure mode drafted"),
    "catalog.failure_mode.updated": _("Failure mode edited"),
    "catalog.failure_mode.restored": _("Failure mode restored to an earlier version"),
    "catalog.failure_mode.reviewed": _("Failure mode marked reviewed"),
    "catalog.failure_mode.submitted": _("Failure mode submitted for review"),
    "catalog.failure_mode.returned": _("Failure mode returned to draft"),
    "catalog.failure_mode.published": _("Failure mode published"),
    "catalog.failure_mode.deprecated": _("Failure mode deprecated"),
    "catalog.failure_mode.reopened": _("Failure mode reopened for review"),
    "catalog.failure_mode.revived": _("Failure mode revived as a draft"),
    "catalog.failure_mode.mitigation_linked": _("Mitigation linked"),
    "catalog.failure_mode.mitigation_unlinked": _("Mitigation unlinked"),
    "catalog.mitigation.created": _("Mitigation template created"),
    "catalog.mitigation.updated": _("Mitigation template edited"),
    "catalog.mitigation.used": _("Mitigation template used"),
    "catalog.case_study.created": _("Case study written"),
    "catalog.occurrence.recorded": _("Occurrence recorded"),
    "catalog.stewardship.reminded": _("Review reminders sent"),
    "catalog.bundle.imported": _("Catalog imported"),
    "catalog.revision.proposed": _("Revision of a published failure mode proposed"),
    "catalog.revision.published": _("Revision published"),
    "catalog.revision.rejected": _("Revision rejected"),
    "catalog.revision.withdrawn": _("Revision withdrawn by its author"),
    "catalog.case_study.updated": _("Case study edited"),
    "catalog.category.created": _("Category created"),
    "catalog.category.updated": _("Category edited"),
}

LEGACY = {
    "catalog.failure_mode.create": "catalog.failure_mode.created",
    "catalog.failure_mode.update": "catalog.failure_mode.updated",
    "catalog.failure_mode.restore": "catalog.failure_mode.restored",
    "catalog.failure_mode.link_mitigation": "catalog.failure_mode.mitigation_linked",
    "catalog.failure_mode.unlink_mitigation": "catalog.failure_mode.mitigation_unlinked",
    "catalog.mitigation.create": "catalog.mitigation.created",
    "catalog.mitigation.update": "catalog.mitigation.updated",
    "catalog.mitigation.use": "catalog.mitigation.used",
    "catalog.case_study.create": "catalog.case_study.created",
    "catalog.occurrence.record": "catalog.occurrence.recorded",
    "catalog.stewardship.remind": "catalog.stewardship.reminded",
    "catalog.import": "catalog.bundle.imported",
    # The editorial workflow wrote ``catalog.failure_mode.<action>``.
    "catalog.failure_mode.submit": "catalog.failure_mode.submitted",
    "catalog.failure_mode.return": "catalog.failure_mode.returned",
    "catalog.failure_mode.publish": "catalog.failure_mode.published",
    "catalog.failure_mode.deprecate": "catalog.failure_mode.deprecated",
    "catalog.failure_mode.reopen": "catalog.failure_mode.reopened",
    "catalog.failure_mode.revive": "catalog.failure_mode.revived",
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS, legacy=LEGACY)
