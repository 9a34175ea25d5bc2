"""Telling people and on-call tools about alerts.

Runs on the hooks ``failsafe.alert_opened`` and ``failsafe.alert_resolved`` (``alert=``),
which the monitors' evaluator runs inside its transaction, and from ``alert_acknowledge``:

* **Notifications** (core's one mechanism, in-app and email by default) to the model's owners
  (``MLModel.owners``) and every lead: a title and a body an on-call person reads in seconds
  (model, monitor, value against bound, spike or persistent shift, what the monitor did) and
  a link to the alert's page. Written in the caller's transaction; email after commit.
* **The outbound alert webhook** (``FAILSAFE_ALERT_WEBHOOK_URL``, signed with
  ``FAILSAFE_ALERT_WEBHOOK_SECRET`` exactly as decisions are: Standard Webhooks, the same
  signing, the same SSRF checks and pinned-address transport): events ``alert.opened``,
  ``alert.acknowledged`` and ``alert.resolved``. The body is frozen when the event happens
  and published after commit to one Celery task (``failsafe.alert_webhook_send``), which
  retries with backoff under the same ``webhook-id``; the outcome (delivered, or given up)
  is audited on the alert, so its page shows whether on-call was told.

Why a task and not the delivery outbox: the outbox is the producers' (one row per decision,
sent to the model's own callback URL, listed on the deliveries page for leads to retry);
alert events go to one operator-configured URL and need none of that. A broker outage at the
moment of the event loses the webhook (logged), never the in-app notification or the alert.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import clock, notifications
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.publish import task_publish_on_commit
from reviewapp.core.roles import LEAD
from reviewapp.core.time import iso_utc
from reviewapp.delivery.transport import signed_post
from reviewapp.delivery.validators import (
    UnsafeCallbackURL,
    resolve_callback_url,
    secret_key_bytes,
)

from ..alert_selectors import (
    action_text,
    alert_link,
    alert_representation,
    alert_summary,
    bound_text,
    monitor_label,
    number,
)
from ..models import Alert

logger = logging.getLogger(__name__)

OPENED_KIND = "failsafe.alert_opened"
RESOLVED_KIND = "failsafe.alert_resolved"
OPENED_HOOK = "failsafe.alert_opened"
RESOLVED_HOOK = "failsafe.alert_resolved"
WEBHOOK_TASK = "failsafe.alert_webhook_send"
EVENTS = ("alert.opened", "alert.escalated", "alert.acknowledged", "alert.resolved")
SENDER = Actor.system("alert-webhook")
USER_AGENT = "Failsafe-Webhooks/1.0"


def register_notification_kinds() -> None:
    notifications.register_kind(
        key=OPENED_KIND,
        label=gettext_lazy("Alerts opened"),
        channels=[notifications.IN_APP, notifications.EMAIL],
        description=gettext_lazy(
            "Leads and a model's owners: a monitor crossed its bound (a spike, or a persistent "
            "shift that contained or halted the model)."
        ),
        order=60,
    )
    notifications.register_kind(
        key=RESOLVED_KIND,
        label=gettext_lazy("Alerts resolved"),
        channels=[notifications.IN_APP, notifications.EMAIL],
        description=gettext_lazy(
            "Leads and a model's owners: a monitor's metric stayed back inside its bound."
        ),
        order=61,
    )


# --- who, and what they read -----------------------------------------------------------------
def alert_recipients(alert: Alert) -> list[int]:
    """The model's owners and every active lead (ids, each once)."""
    users = get_user_model()._default_manager.filter(is_active=True)
    owners = alert.model.owners.filter(is_active=True).values_list("pk", flat=True)
    leads = users.filter(groups__name=LEAD).values_list("pk", flat=True)
    return sorted(set(owners) | set(leads))


def _rule_line(alert: Alert) -> str:
    rule = alert.rule or {}
    minutes = rule.get("duration_minutes")
    parts = [
        _("Rule: %(metric)s %(op)s %(bound)s")
        % {
            "metric": monitor_label(str(rule.get("metric") or alert.monitor)),
            "op": rule.get("op") or ">",
            "bound": number(rule.get("bound")),
        }
    ]
    if minutes:
        parts.append(_("for %(n)s min is a persistent shift") % {"n": minutes})
    if rule.get("action"):
        parts.append(_("action on a shift: %(a)s") % {"a": rule["action"]})
    return ", ".join(parts) + "."


def opened_title(alert: Alert) -> str:
    # "S1 alert · card-fraud · uncertain rate 0.42 > 0.15 · persistent shift · model contained"
    return f"{alert.severity} {_('alert')} · {alert_summary(alert)}"[: notifications.TITLE_MAX]


def opened_body(alert: Alert) -> str:
    shape = (
        _("Persistent shift: the bound has been crossed for the rule's whole duration.")
        if alert.shape == Alert.Shape.SHIFT
        else _("Spike: the bound is crossed, not yet for the rule's duration.")
    )
    lines = [
        _("%(model)s, monitor %(monitor)s (%(severity)s): %(value)s.")
        % {
            "model": alert.model.slug,
            "monitor": monitor_label(alert.monitor),
            "severity": alert.severity,
            "value": bound_text(alert),
        },
        shape,
        _("What the monitor did: %(action)s.") % {"action": action_text(alert)},
        _("Past the bound since %(since)s (UTC).") % {"since": _utc_text(alert.since)},
        _rule_line(alert),
        _("Acknowledge it on the alert's page; a lead lifts a containment there too."),
    ]
    return "\n".join(lines)


def resolved_title(alert: Alert) -> str:
    text = _("Resolved · %(model)s · %(monitor)s back inside its bound") % {
        "model": alert.model.slug,
        "monitor": monitor_label(alert.monitor),
    }
    return text[: notifications.TITLE_MAX]


def resolved_body(alert: Alert) -> str:
    rule = alert.rule or {}
    lines = [
        _("%(model)s, monitor %(monitor)s (%(severity)s): last value %(value)s, bound %(bound)s.")
        % {
            "model": alert.model.slug,
            "monitor": monitor_label(alert.monitor),
            "severity": alert.severity,
            "value": number(alert.last_value),
            "bound": number(rule.get("bound")),
        },
        _("Inside the bound since %(t)s (UTC); peak was %(peak)s.")
        % {"t": _utc_text(alert.inside_since), "peak": number(alert.peak)},
    ]
    if alert.action_taken in ("contain", "halt"):
        lines.append(
            _(
                "The model stays %(mode)s until a lead lifts it: resolving an alert never "
                "changes a model's mode."
            )
            % {"mode": _("contained") if alert.action_taken == "contain" else _("halted")}
        )
    return "\n".join(lines)


def _utc_text(when: dt.datetime | None) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if when else "—"


# --- hook handlers ----------------------------------------------------------------------------
def _tell(alert: Alert, *, kind: str, title: str, body: str, event: str) -> None:
    """Notify the model's owners and the leads, and queue the on-call webhook's ``event``."""
    notifications.notify(
        recipients=alert_recipients(alert),
        kind=kind,
        title=title,
        body=body,
        link=alert_link(alert),
        actor=Actor.system(f"monitor:{alert.monitor}"),
    )
    alert_webhook_enqueue(alert=alert, event=event)


def alert_opened(*, alert: Alert) -> None:
    """Hook ``failsafe.alert_opened``: tell the owners and leads; send ``alert.opened``."""
    _tell(alert, kind=OPENED_KIND, title=opened_title(alert), body=opened_body(alert),
          event="alert.opened")  # fmt: skip


def alert_escalated(*, alert: Alert) -> None:
    """Hook ``failsafe.alert_escalated``: a spike lasted its monitor's duration and is now a
    persistent shift (the monitor's action follows); tell the same people again and send
    ``alert.escalated``, so a shift never hides behind the spike notice sent before it."""
    _tell(alert, kind=OPENED_KIND, title=opened_title(alert), body=opened_body(alert),
          event="alert.escalated")  # fmt: skip


def alert_resolved(*, alert: Alert) -> None:
    """Hook ``failsafe.alert_resolved``: tell the owners and leads; send ``alert.resolved``."""
    _tell(alert, kind=RESOLVED_KIND, title=resolved_title(alert), body=resolved_body(alert),
          event="alert.resolved")  # fmt: skip


def webhook_configured() -> bool:
    return bool(settings.FAILSAFE_ALERT_WEBHOOK_URL)


def message_id_for(alert: Alert, event: str) -> str:
    """Stable per alert and event: a receiver that sees it twice (a retry) drops the copy."""
    return f"msg_alert_{alert.pk}_{event.split('.', 1)[1]}"


def alert_webhook_payload(*, alert: Alert, event: str, now: dt.datetime) -> dict[str, Any]:
    data = alert_representation(alert, now=now)
    base = settings.NOTIFICATIONS_SITE_URL.rstrip("/")
    data["link"] = f"{base}{data['link']}" if base else data["link"]
    data["summary"] = alert_summary(alert)
    return {"type": event, "timestamp": iso_utc(now), "data": data}


def alert_webhook_enqueue(*, alert: Alert, event: str) -> bool:
    """Freeze the event's body now and publish it after commit; False when no URL is set."""
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}")
    if not webhook_configured():
        return False
    payload = alert_webhook_payload(alert=alert, event=event, now=clock.now())
    task_publish_on_commit(WEBHOOK_TASK, args=[message_id_for(alert, event), payload])
    return True


@dataclass
class SendResult:
    status_code: int | None = None
    error: str = ""
    # True when trying again may help (no answer, 5xx, 429...); False for a refused URL,
    # a bad secret, or 410 Gone.
    retryable: bool = False

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _post(*, message_id: str, payload: dict[str, Any], at: dt.datetime) -> SendResult:
    url = settings.FAILSAFE_ALERT_WEBHOOK_URL
    if not url:
        return SendResult(error=_("No FAILSAFE_ALERT_WEBHOOK_URL is set."))
    try:
        target = resolve_callback_url(url)
        key = secret_key_bytes(settings.FAILSAFE_ALERT_WEBHOOK_SECRET)
    except UnsafeCallbackURL as exc:
        return SendResult(error=_("Refused to call the URL: %(why)s") % {"why": exc})
    except ValueError as exc:
        return SendResult(error=_("Cannot sign: %(why)s") % {"why": exc})
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    try:
        code, _answer = signed_post(
            url=url,
            target=target,
            key=key,
            message_id=message_id,
            payload=payload,
            at=at,
            timeout=timeout,
        )
    except requests.Timeout:
        return SendResult(
            error=_("No answer within %(s)s seconds.") % {"s": timeout}, retryable=True
        )
    except requests.RequestException as exc:
        logger.info("Alert webhook %s: %s", message_id, exc)
        return SendResult(
            error=_("Could not connect: %(why)s") % {"why": exc.__class__.__name__}, retryable=True
        )
    if 200 <= code < 300:
        return SendResult(status_code=code)
    error = _("The receiver answered HTTP %(code)s.") % {"code": code}
    return SendResult(status_code=code, error=error, retryable=code != 410)


def alert_webhook_send(
    *, message_id: str, payload: dict[str, Any], attempt: int, last_attempt: bool
) -> SendResult:
    """Send one alert event (the Celery task's work) and audit a final outcome on the alert:
    delivered, or given up (refused, 410 Gone, or ``last_attempt`` failed). A failure that
    may pass is not audited; the task retries it."""
    started = time.monotonic()
    result = _post(message_id=message_id, payload=payload, at=clock.now())
    final = result.delivered or not result.retryable or last_attempt
    if final:
        data = payload.get("data") or {}
        verb = (
            "failsafe.alert_webhook.delivered"
            if result.delivered
            else "failsafe.alert_webhook.failed"
        )
        with transaction.atomic():
            audit_record(
                actor=SENDER,
                verb=verb,
                target=("failsafe.alert", data.get("id")),
                data={
                    "event": payload.get("type"),
                    "message_id": message_id,
                    "attempts": attempt,
                    "status_code": result.status_code,
                    "error": result.error,
                    "duration_ms": int((time.monotonic() - started) * 1000),
                },
            )
    if not result.delivered:
        logger.warning(
            "Alert webhook %s (attempt %s): %s", message_id, attempt, result.error or "failed"
        )
    return result


def retry_delay_seconds(attempt: int) -> float:
    """Backoff before attempt ``attempt + 1``: 30 s doubling, at most 10 minutes (kept short:
    an alert nobody hears about for hours is no alert, and a broker's visibility timeout would
    hand a long-delayed task out twice)."""
    return float(min(600, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0)))
