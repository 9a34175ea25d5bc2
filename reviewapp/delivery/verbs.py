"""Delivery's audit verbs (``delivery.``): label of each, and the names they replaced."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "delivery."

VERBS = {
    "delivery.delivery.enqueued": _("Delivery queued"),
    "delivery.delivery.rescheduled": _("Delivery retry scheduled"),
    "delivery.delivery.requeued": _("Delivery queued again"),
    "delivery.delivery.delivered": _("Delivered"),
    "delivery.delivery.failed": _("Delivery failed"),
    "delivery.delivery.stopped": _("Delivery stopped by the receiver"),
    "delivery.delivery.skipped": _("Delivery skipped (no callback URL)"),
    "delivery.delivery.cancelled": _("Delivery cancelled"),
    "delivery.callback.configured": _("Callback configured"),
}

LEGACY = {
    "delivery.enqueued": "delivery.delivery.enqueued",
    "model.callback_configured": "delivery.callback.configured",
    # Status changes were audited as ``delivery.<status>``; "pending" was both a scheduled
    # retry and a retry by hand.
    "delivery.pending": ("delivery.delivery.rescheduled", "delivery.delivery.requeued"),
    "delivery.delivered": "delivery.delivery.delivered",
    "delivery.failed": "delivery.delivery.failed",
    "delivery.stopped": "delivery.delivery.stopped",
    "delivery.skipped": "delivery.delivery.skipped",
    "delivery.cancelled": "delivery.delivery.cancelled",
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS, legacy=LEGACY)
