"""The fail-safe app's audit verbs (``failsafe.``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "failsafe."

VERBS = {
    "failsafe.model_mode.changed": _("Model operating mode changed"),
    "failsafe.model_mode.extended": _("Containment review time extended"),
    "failsafe.model_mode.reminded": _("Containment review reminder sent"),
    "failsafe.alert.opened": _("Alert opened"),
    "failsafe.alert.acknowledged": _("Alert acknowledged"),
    "failsafe.alert.resolved": _("Alert resolved"),
    "failsafe.feature_profile.learned": _("Feature profile learned"),
    "failsafe.model_owners.changed": _("Model owners changed"),
    # --- alerts ---
    "failsafe.alert_webhook.delivered": _("Alert sent to the on-call webhook"),
    "failsafe.alert_webhook.failed": _("Alert webhook gave up"),
    # --- monitors ---
    "failsafe.alert.escalated": _("Alert became a persistent shift"),
    "failsafe.alert.acted": _("Monitor action taken on a persistent shift"),
    "failsafe.shift_sample.queued": _("Shift sample queued for review"),
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS)
