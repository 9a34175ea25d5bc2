"""core.notifications: one mechanism for every app (in-app rows, email after commit)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reviewapp.core import notifications
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import NotFound, ServiceError
from reviewapp.core.models import AuditEvent, AuditSubject, Notification, NotificationPreference
from tests.factories import UserFactory, signed_in_queries

pytestmark = pytest.mark.django_db

KIND = "tests.thing_happened"
QUIET = "tests.quiet_thing"


@pytest.fixture(autouse=True)
def kinds():
    notifications.register_kind(key=KIND, label="Thing happened", description="Tests.")
    notifications.register_kind(key=QUIET, label="Quiet thing", channels=[notifications.IN_APP])
    yield
    notifications._kinds.pop(KIND, None)
    notifications._kinds.pop(QUIET, None)


@pytest.fixture
def people(db):
    return [
        UserFactory(username="ana", email="ana@example.org"),
        UserFactory(username="bo", email="bo@example.org"),
        UserFactory(username="cy", email=""),
    ]


# --- the service ---------------------------------------------------------------------------
def test_notify_writes_one_row_per_recipient_in_one_insert_and_one_audit_event(
    people, django_assert_max_num_queries
):
    ana, bo, cy = people
    with django_assert_max_num_queries(8):
        told = notifications.notify(
            recipients=[ana, bo.pk, cy, ana],
            kind=KIND,
            title="Model fraud-v3 was paused",
            body="Look at it.",
            link="/queue/",
            actor=Actor.user(bo),
        )
    assert told == 3
    rows = Notification.objects.order_by("recipient_id")
    assert [r.recipient_id for r in rows] == [ana.pk, bo.pk, cy.pk]
    assert {(r.title, r.body, r.link, r.read_at) for r in rows} == {
        ("Model fraud-v3 was paused", "Look at it.", "/queue/", None)
    }
    event = AuditEvent.objects.get(verb="core.notification.sent")
    assert event.actor_label == "bo" and event.target_id == KIND
    assert event.data["email"] == [ana.pk, bo.pk]  # cy has no address
    assert sorted(
        int(s.target_id) for s in AuditSubject.objects.filter(event=event, target_type="auth.user")
    ) == [ana.pk, bo.pk, cy.pk]


def test_inactive_users_and_nobody_get_nothing(people):
    ana, bo, _cy = people
    bo.is_active = False
    bo.save()
    assert notifications.notify(recipients=[bo], kind=KIND, title="x") == 0
    assert notifications.notify(recipients=[], kind=KIND, title="x") == 0
    assert not Notification.objects.exists()
    assert not AuditEvent.objects.filter(verb="core.notification.sent").exists()


def test_preferences_are_honoured_per_channel(people, eager, django_capture_on_commit_callbacks):
    ana, bo, _cy = people
    notifications.notification_preferences_set(user=ana, choices={KIND: {"in_app": False}})
    notifications.notification_preferences_set(user=bo, choices={KIND: {"email": False}})
    with django_capture_on_commit_callbacks(execute=True):
        notifications.notify(recipients=[ana, bo], kind=KIND, title="Hello")
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [bo.pk]
    assert [m.to for m in mail.outbox] == [["ana@example.org"]]


def test_a_kind_whose_default_is_in_app_only_sends_no_email_unless_chosen(
    people, eager, django_capture_on_commit_callbacks
):
    ana, bo, _cy = people
    notifications.notification_preferences_set(user=bo, choices={QUIET: {"email": True}})
    with django_capture_on_commit_callbacks(execute=True):
        notifications.notify(recipients=[ana, bo], kind=QUIET, title="Hush")
    assert Notification.objects.count() == 2
    assert [m.to for m in mail.outbox] == [["bo@example.org"]]


def test_email_goes_after_commit_through_one_task(
    people, eager, django_capture_on_commit_callbacks, settings
):
    settings.NOTIFICATIONS_SITE_URL = "https://failsafe.example.org/"
    ana, bo, _cy = people
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notifications.notify(recipients=[ana, bo], kind=KIND, title="Hi", body="Body.", link="/q/")
        assert mail.outbox == []  # nothing before commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@example.org", "bo@example.org"]
    message = mail.outbox[0]
    assert message.subject == "[Failsafe] Hi"
    assert message.body.startswith("Body.\n\nhttps://failsafe.example.org/q/\n\n-- \n")


def test_no_email_when_the_transaction_rolls_back(
    people, eager, django_capture_on_commit_callbacks
):
    ana, _bo, _cy = people

    class Boom(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        notifications.notify(recipients=[ana], kind=KIND, title="Never")
        raise Boom
    assert callbacks == [] and mail.outbox == []
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "queue/",
    ],
)
def test_a_link_must_be_a_path_on_this_site(people, link):
    with pytest.raises(ServiceError) as info:
        notifications.notify(recipients=people, kind=KIND, title="x", link=link)
    assert "link" in info.value.errors
    assert not Notification.objects.exists()


def test_a_title_is_required_and_bounded(people):
    for title in ("", "  ", "x" * 201):
        with pytest.raises(ServiceError) as info:
            notifications.notify(recipients=people, kind=KIND, title=title)
        assert "title" in info.value.errors


def test_an_unregistered_kind_is_a_programming_error(people):
    with pytest.raises(notifications.UnknownKind):
        notifications.notify(recipients=people, kind="tests.never_registered", title="x")
    with pytest.raises(ImproperlyConfigured):
        notifications.register_kind(key="NoDots", label="x")
    with pytest.raises(ImproperlyConfigured):
        notifications.register_kind(key="tests.x", label="x", channels=["sms"])


def test_mark_read_and_mark_all_read_touch_only_ones_own(people):
    ana, bo, _cy = people
    notifications.notify(recipients=[ana, bo], kind=KIND, title="One")
    notifications.notify(recipients=[ana], kind=KIND, title="Two")
    first = Notification.objects.filter(recipient=ana).order_by("id").first()
    bos = Notification.objects.get(recipient=bo)
    with pytest.raises(NotFound):
        notifications.notification_mark_read(user=ana, notification_id=bos.pk)
    notifications.notification_mark_read(user=ana, notification_id=first.pk)
    assert notifications.notifications_unread_count(user=ana) == 1
    assert notifications.notification_mark_all_read(user=ana) == 1
    assert notifications.notifications_unread_count(user=ana) == 0
    assert notifications.notifications_unread_count(user=bo) == 1


def test_preferences_changes_are_audited_and_unknown_kinds_refused(people):
    ana, _bo, _cy = people
    assert (
        notifications.notification_preferences_set(user=ana, choices={KIND: {"email": True}}) == 0
    )
    assert (
        notifications.notification_preferences_set(user=ana, choices={KIND: {"email": False}}) == 1
    )
    event = AuditEvent.objects.get(verb="core.notification_preference.changed")
    assert event.before == {KIND: {"in_app": True, "email": True}}
    assert event.after == {KIND: {"in_app": True, "email": False}}
    with pytest.raises(ServiceError) as info:
        notifications.notification_preferences_set(user=ana, choices={"tests.nope": {}})
    assert "kind" in info.value.errors
    assert NotificationPreference.objects.count() == 1


def test_prune_drops_old_read_notifications_only(people, settings):
    settings.NOTIFICATIONS_RETENTION_DAYS = 30
    ana, _bo, _cy = people
    old = timezone.now() - dt.timedelta(days=31)
    for read_at in (old, None):
        Notification.objects.create(
            recipient=ana, kind=KIND, title="old", created_at=old, read_at=read_at
        )
    Notification.objects.create(recipient=ana, kind=KIND, title="new", read_at=timezone.now())
    assert notifications.notifications_prune() == 1
    left = sorted((n.title, n.read_at is None) for n in Notification.objects.all())
    assert left == [("new", False), ("old", True)]


# --- the lockout kind ---------------------------------------------------------------------
def test_a_sign_in_lockout_notifies_the_leads(db, lead):
    UserFactory(username="ana", roles=["reviewer"])
    client = Client()
    for _attempt in range(11):
        client.post(
            "/accounts/login/", {"username": "ana", "password": "wrong"}, REMOTE_ADDR="203.0.113.7"
        )
    rows = list(Notification.objects.all())
    assert [(r.recipient_id, r.kind) for r in rows] == [(lead.pk, "core.signin.locked_out")]
    assert rows[0].title == "Sign-in locked out: ana"
    assert "203.0.113.7" in rows[0].body and rows[0].link == reverse("signin-lockouts")


# --- the bell, the page, the preferences section -------------------------------------------
def test_the_bell_shows_the_unread_count_without_a_query_of_its_own(
    client, lead, django_assert_num_queries
):
    notifications.notify(recipients=[lead], kind=KIND, title="a")
    notifications.notify(recipients=[lead], kind=KIND, title="b")
    client.force_login(lead)
    client.get("/ingest/rejected/")  # warm per-process caches (content types)
    # Permissions (2) and the count of rejected envelopes (none here, so no page of rows):
    # the bell's count comes in the user's query (core.backends), not a query of its own.
    with django_assert_num_queries(signed_in_queries(3)):
        response = client.get("/ingest/rejected/")
    body = response.content.decode()
    assert '<span class="bell-count" aria-hidden="true">2</span>' in body
    assert "Notifications: 2 unread" in body


def test_the_bell_caps_its_count_and_hides_it_at_zero(client, lead):
    Notification.objects.bulk_create(
        Notification(recipient=lead, kind=KIND, title=str(i)) for i in range(120)
    )
    client.force_login(lead)
    assert (
        '<span class="bell-count" aria-hidden="true">99+</span>'
        in client.get("/account/").content.decode()
    )
    notifications.notification_mark_all_read(user=lead)
    body = client.get("/account/").content.decode()
    assert "bell-count" not in body and "Notifications: none unread" in body


def test_the_page_lists_newest_first_and_marks_read(client, people):
    ana, bo, _cy = people
    notifications.notify(recipients=[ana], kind=KIND, title="Older", body="plain <b>text</b>")
    notifications.notify(
        recipients=[ana], kind=KIND, title="Newer", body="**bold**", link="/queue/", markdown=True
    )
    notifications.notify(recipients=[bo], kind=KIND, title="Not yours")
    client.force_login(ana)
    body = client.get("/notifications/").content.decode()
    assert body.index("Newer") < body.index("Older") and "Not yours" not in body
    assert "<strong>bold</strong>" in body and "plain &lt;b&gt;text&lt;/b&gt;" in body
    newer = Notification.objects.get(title="Newer")
    # Following the link marks it read and goes there.
    response = client.post(f"/notifications/{newer.pk}/open", {"follow": "1"})
    assert response.status_code == 302 and response["Location"] == "/queue/"
    newer.refresh_from_db()
    assert newer.read_at is not None
    # Someone else's notification is a 404, the same as one that does not exist.
    theirs = Notification.objects.get(title="Not yours")
    assert client.post(f"/notifications/{theirs.pk}/open").status_code == 404
    assert client.post("/notifications/999999/open").status_code == 404
    # Mark read never redirects off the site.
    older = Notification.objects.get(title="Older")
    response = client.post(f"/notifications/{older.pk}/open", {"next": "https://evil.example/"})
    assert response["Location"] == "/notifications/"
    assert client.post("/notifications/read-all").status_code == 302
    assert not Notification.objects.filter(recipient=ana, read_at__isnull=True).exists()
    assert Notification.objects.get(title="Not yours").read_at is None


def test_the_page_refuses_a_bad_page_number_and_needs_sign_in(client, people):
    assert client.get("/notifications/")["Location"].startswith("/accounts/login/")
    client.force_login(people[0])
    response = client.get("/notifications/?page=abc")
    assert response.status_code == 400
    assert response.content.decode() == "The parameter “page” must be a whole number from 1."
    assert "No notifications." in client.get("/notifications/").content.decode()
    assert client.get("/notifications/read-all").status_code == 405


def test_the_account_page_has_the_preferences_section_and_saves_it(client, people):
    ana = people[0]
    client.force_login(ana)
    body = client.get("/account/").content.decode()
    assert (
        'id="h-notifications"' in body and "Thing happened" in body and "Sign-in lockouts" in body
    )
    assert f'name="notify-{KIND}:in_app"' in body
    # Unchecked boxes are not sent: email off, in-app on for KIND; the rest as before.
    response = client.post(
        "/account/notifications/", {f"notify-{KIND}:in_app": "on", f"notify-{QUIET}:in_app": "on"}
    )
    assert response.status_code == 302 and response["Location"].endswith("#h-notifications")
    prefs = {p.kind: (p.in_app, p.email) for p in NotificationPreference.objects.filter(user=ana)}
    assert prefs[KIND] == (True, False)
    assert QUIET not in prefs  # unchanged from its defaults: no row
