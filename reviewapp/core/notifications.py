"""The one notifications mechanism: an in-app list and email through Django's email backend.

Apps register the kinds of news they send from ``AppConfig.ready()`` (:func:`register_kind`:
``<app>.<thing>``, a label, the channels it uses by default) and call :func:`notify`; core
names no app. A person may turn either channel of a kind off or on (their preferences, on
the My account page); without a choice the kind's defaults apply.

:func:`notify` writes the in-app rows in one INSERT and one audit event
(``core.notification.sent``) naming every recipient, in the caller's transaction. Email goes
after commit, by one Celery task (``failsafe.notification_email``, core/tasks.py), so a slow
mail server never holds a request and a rolled-back change sends nothing. Email is a courtesy
copy: the task runs at most once (no late acknowledgement), and a broker outage loses the
email, never the in-app row.

Reading is not audited (it changes nothing anyone else relies on); read notifications older
than ``NOTIFICATIONS_RETENTION_DAYS`` are pruned by beat.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import clock

from .audit import Actor, audit_record
from .exceptions import NotFound, ServiceError
from .models import Notification, NotificationPreference
from .publish import task_publish_on_commit
from .redirects import is_same_origin_path

IN_APP = "in_app"
EMAIL = "email"
CHANNELS = (IN_APP, EMAIL)
EMAIL_TASK = "failsafe.notification_email"
TITLE_MAX = Notification._meta.get_field("title").max_length
LINK_MAX = Notification._meta.get_field("link").max_length
BODY_MAX = 20_000

# Registered by CoreConfig.ready() (core.verbs).
VERB_PREFIX = "core.notification"
VERBS = {
    "core.notification.sent": gettext_lazy("Notification sent"),
    "core.notification_preference.changed": gettext_lazy("Notification preferences changed"),
}

KIND_FORM = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*){1,2}$")


class UnknownKind(ValueError):
    """notify() named a kind no app registered: a programming error, never the user's."""


@dataclass(frozen=True)
class Kind:
    key: str
    label: str | Promise
    in_app: bool
    email: bool
    # Who gets it and why, for the preferences section ("Leads: someone is locked out").
    description: str | Promise
    order: int


_kinds: dict[str, Kind] = {}


def register_kind(
    *,
    key: str,
    label: str | Promise,
    channels: Iterable[str] = (IN_APP, EMAIL),
    description: str | Promise = "",
    order: int = 100,
) -> None:
    """Declare a kind of notification (``<app>.<thing>``) and its default channels.

    Registering the same key again (``ready()`` may run twice) replaces the entry."""
    if not KIND_FORM.match(key) or len(key) > Notification._meta.get_field("kind").max_length:
        raise ImproperlyConfigured(f"Notification kind {key!r} must read <app>.<thing>.")
    channels = set(channels)
    unknown = channels - set(CHANNELS)
    if unknown:
        raise ImproperlyConfigured(f"Unknown notification channel(s): {sorted(unknown)}.")
    _kinds[key] = Kind(
        key=key,
        label=label,
        in_app=IN_APP in channels,
        email=EMAIL in channels,
        description=description,
        order=order,
    )


def kinds() -> list[Kind]:
    return sorted(_kinds.values(), key=lambda k: (k.order, k.key))


def kind_of(key: str) -> Kind:
    try:
        return _kinds[key]
    except KeyError:
        raise UnknownKind(f"Notification kind {key!r} is not registered.") from None


# --- reads --------------------------------------------------------------------------------
def notifications_for(*, user: Any) -> QuerySet[Notification]:
    """The user's notifications, newest first (the inbox index)."""
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")


def notifications_unread_count(*, user: Any) -> int:
    """One COUNT over the partial index of unread rows."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


@dataclass(frozen=True)
class Choice:
    kind: Kind
    in_app: bool
    email: bool


def notification_choices(*, user: Any) -> list[Choice]:
    """Every registered kind with the user's choice for it (or the kind's defaults)."""
    rows = {p.kind: p for p in NotificationPreference.objects.filter(user=user)}
    out = []
    for kind in kinds():
        row = rows.get(kind.key)
        out.append(
            Choice(
                kind=kind,
                in_app=row.in_app if row else kind.in_app,
                email=row.email if row else kind.email,
            )
        )
    return out


# --- writes -------------------------------------------------------------------------------
def _ids(recipients: Iterable[Any]) -> list[int]:
    ids = []
    for r in recipients:
        pk = getattr(r, "pk", r)
        if pk is not None:
            ids.append(int(pk))
    return sorted(set(ids))


def _check(*, title: str, body: str, link: str) -> None:
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = [_("A notification needs a title.")]
    elif len(title) > TITLE_MAX:
        errors["title"] = [_("At most %(n)s characters.") % {"n": TITLE_MAX}]
    if len(body) > BODY_MAX:
        errors["body"] = [_("At most %(n)s characters.") % {"n": BODY_MAX}]
    if link and (len(link) > LINK_MAX or not is_same_origin_path(link)):
        errors["link"] = [_("A link must be a path on this site, starting with /.")]
    if errors:
        raise ServiceError(_("The notification is not valid."), errors=errors)


def notify(
    *,
    recipients: Iterable[Any],
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    actor: Actor | None = None,
    markdown: bool = False,
) -> int:
    """Tell ``recipients`` (users or user ids) about something; returns how many were told.

    Inactive users and people who turned both channels of ``kind`` off are left out. The
    in-app rows and the audit event are written in the caller's transaction; email is sent
    after it commits (nothing when it rolls back)."""
    spec = kind_of(kind)
    _check(title=title, body=body, link=link)
    ids = _ids(recipients)
    if not ids:
        return 0
    with transaction.atomic():
        users = list(
            get_user_model()
            ._default_manager.filter(pk__in=ids, is_active=True)
            .only("pk", "email")
            .order_by("pk")
        )
        prefs = {
            p.user_id: p
            for p in NotificationPreference.objects.filter(
                user_id__in=[u.pk for u in users], kind=kind
            )
        }
        in_app, email = [], []
        for user in users:
            pref = prefs.get(user.pk)
            if pref.in_app if pref else spec.in_app:
                in_app.append(user.pk)
            if (pref.email if pref else spec.email) and user.email:
                email.append(user.pk)
        if in_app:
            now = clock.now()
            Notification.objects.bulk_create(
                Notification(
                    recipient_id=pk,
                    kind=kind,
                    title=title,
                    body=body,
                    body_markdown=markdown,
                    link=link,
                    created_at=now,
                )
                for pk in in_app
            )
        told = sorted(set(in_app) | set(email))
        if told:
            audit_record(
                actor=actor or Actor.system("notifications"),
                verb="core.notification.sent",
                target=("core.notification_kind", kind),
                data={"kind": kind, "title": title, "in_app": in_app, "email": email},
                subjects={"auth.user": told},
            )
        if email:
            task_publish_on_commit(EMAIL_TASK, args=[email, title, body, link])
    return len(told)


def _absolute(link: str) -> str:
    base = settings.NOTIFICATIONS_SITE_URL.rstrip("/")
    return f"{base}{link}" if base else link


def notification_email_send(*, user_ids: list[int], title: str, body: str, link: str) -> int:
    """Send one plain-text email per recipient over one connection (the Celery task's work).

    Addresses are read now, so a changed or removed address is honoured; returns how many
    were handed to the email backend."""
    users = (
        get_user_model()
        ._default_manager.filter(pk__in=user_ids, is_active=True)
        .exclude(email="")
        .only("email")
        .order_by("pk")
    )
    text = body
    if link:
        text = f"{text}\n\n{_absolute(link)}" if text else _absolute(link)
    footer = _("You get this because of your notification settings on your account page.")
    text = f"{text}\n\n-- \n{footer}" if text else footer
    subject = f"{settings.EMAIL_SUBJECT_PREFIX}{title}"
    messages = [(subject, text, None, [u.email]) for u in users]
    if not messages:
        return 0
    return send_mass_mail(messages, fail_silently=False)


def notification_mark_read(*, user: Any, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (already read: left as it was)."""
    with transaction.atomic():
        row = (
            Notification.objects.select_for_update()
            .filter(pk=notification_id, recipient=user)
            .first()
        )
        if row is None:
            raise NotFound(_("No such notification."), field="notification")
        if row.read_at is None:
            row.read_at = clock.now()
            row.save(update_fields=["read_at"])
    return row


def notification_mark_all_read(*, user: Any) -> int:
    """Mark every unread notification of the user read; returns how many."""
    with transaction.atomic():
        return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
            read_at=clock.now()
        )


def notification_preferences_set(*, user: Any, choices: dict[str, dict[str, bool]]) -> int:
    """Store the user's channels per kind (``{"core.signin.locked_out": {"in_app": True,
    "email": False}}``); a kind left out keeps its current setting. Returns how many kinds
    changed; the change is audited."""
    unknown = sorted(k for k in choices if k not in _kinds)
    if unknown:
        raise ServiceError(
            _("Unknown notification kind."),
            errors={"kind": [_("Unknown notification kind: %(k)s.") % {"k": ", ".join(unknown)}]},
        )
    with transaction.atomic():
        current = {c.kind.key: c for c in notification_choices(user=user)}
        before, after = {}, {}
        for key, wanted in choices.items():
            now = {ch: bool(wanted.get(ch, getattr(current[key], ch))) for ch in CHANNELS}
            was = {ch: getattr(current[key], ch) for ch in CHANNELS}
            if now == was:
                continue
            NotificationPreference.objects.update_or_create(user=user, kind=key, defaults=now)
            before[key], after[key] = was, now
        if after:
            audit_record(
                actor=Actor.user(user),
                verb="core.notification_preference.changed",
                target=user,
                before=before,
                after=after,
            )
    return len(after)


def notifications_prune(*, now: dt.datetime | None = None) -> int:
    """Delete read notifications older than NOTIFICATIONS_RETENTION_DAYS (beat; idempotent).

    Not audited: each one's sending is (``core.notification.sent``); unread ones stay."""
    now = now or clock.now()
    cutoff = now - dt.timedelta(days=settings.NOTIFICATIONS_RETENTION_DAYS)
    with transaction.atomic():
        deleted, _by_model = Notification.objects.filter(
            read_at__isnull=False, created_at__lt=cutoff
        ).delete()
    return deleted
