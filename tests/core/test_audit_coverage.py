"""Changes that used to leave no audit event: people and roles, the admin, lease renewals and
the demo's guidelines."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import RequestFactory
from django.utils import timezone

from reviewapp.core.admin import AuditedReadOnlyAdmin
from reviewapp.core.models import AuditEvent
from reviewapp.models import GuidelineVersion, ReviewItem
from reviewapp.services.claims import review_item_claim_next, review_item_renew
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = pytest.mark.django_db
pooled_reviewer = fx.pooled_reviewer


def events(verb: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(verb=verb).order_by("id"))


# --- people and roles ---------------------------------------------------------------------
def test_creating_a_user_and_changing_their_flags_is_recorded():
    user = get_user_model().objects.create_user("nora", password="pw-for-tests")
    [created] = events("core.user.created")
    assert created.target_type == "auth.user" and created.target_id == str(user.pk)
    assert created.after["username"] == "nora" and created.after["is_superuser"] is False
    assert created.actor_label == "outside a request"

    user.is_superuser = True
    user.is_active = False
    user.save()
    assert events("core.user.superuser_granted")[0].after == {"is_superuser": True}
    assert events("core.user.deactivated")[0].before == {"is_active": True}
    user.is_active = True
    user.save()
    assert len(events("core.user.reactivated")) == 1
    user.is_superuser = False
    user.save(update_fields=["is_superuser"])
    assert len(events("core.user.superuser_revoked")) == 1


def test_a_login_or_an_unchanged_save_records_nothing():
    user = UserFactory(username="quiet")
    before = AuditEvent.objects.count()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    user.first_name = "Q"
    user.save()
    assert AuditEvent.objects.count() == before


def test_group_membership_changes_are_recorded_from_either_side():
    user = UserFactory(username="gwen")
    lead = Group.objects.get(name="lead")
    committee = Group.objects.get(name="committee")
    user.groups.add(lead)
    committee.user_set.add(user)
    added = events("core.user.group_added")
    assert [e.data["groups"] for e in added] == [["lead"], ["committee"]]
    assert {e.target_id for e in added} == {str(user.pk)}
    user.groups.remove(lead)
    assert events("core.user.group_removed")[-1].data["groups"] == ["lead"]
    user.groups.clear()
    assert events("core.user.group_removed")[-1].data["groups"] == ["committee"]
    other = UserFactory(username="hal", roles=["lead"])
    lead.user_set.clear()
    assert events("core.user.group_removed")[-1].target_id == str(other.pk)


def test_permission_changes_are_recorded_for_groups_and_users():
    group = Group.objects.create(name="auditors")
    assert events("core.group.created")[0].after == {"name": "auditors"}
    perm = Permission.objects.get(codename="view_auditevent")
    group.permissions.add(perm)
    assert events("core.group.permission_added")[0].data["permissions"] == ["core.view_auditevent"]
    group.permissions.set([])
    assert events("core.group.permission_removed")[0].data["permissions"] == [
        "core.view_auditevent"
    ]
    user = UserFactory(username="ivy")
    user.user_permissions.add(perm)
    user.user_permissions.remove(perm)
    assert len(events("core.user.permission_added")) == 1
    assert len(events("core.user.permission_removed")) == 1
    group.delete()
    assert events("core.group.deleted")[0].before == {"name": "auditors"}


def test_a_change_made_in_a_request_names_the_signed_in_user(client):
    admin_user = UserFactory(username="root")
    admin_user.is_superuser = admin_user.is_staff = True
    admin_user.save()
    target = UserFactory(username="jo")
    client.force_login(admin_user)
    lead = Group.objects.get(name="lead")
    response = client.post(
        f"/admin/auth/user/{target.pk}/change/",
        {
            "username": "jo",
            "password": target.password,
            "is_active": "on",
            "groups": [lead.pk],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    [added] = events("core.user.group_added")[-1:]
    assert added.target_id == str(target.pk)
    assert (added.actor_type, added.actor_label) == ("user", "root")
    assert added.request_id


def test_the_role_sync_after_migrate_records_nothing():
    from django.apps import apps

    from reviewapp.core import roles

    Group.objects.get(name="lead").permissions.clear()
    before = AuditEvent.objects.count()
    last = [c for c in apps.get_app_configs() if c.models_module is not None][-1]
    roles.sync_role_permissions_signal(sender=last)
    assert AuditEvent.objects.count() == before
    assert Group.objects.get(name="lead").permissions.exists()


# --- the admin ----------------------------------------------------------------------------
AUDITED = [
    "reviewapp.MLModel",
    "catalog.Category",
    "catalog.Tag",
    "catalog.FailureMode",
    "catalog.MitigationTemplate",
    "catalog.CaseStudy",
    "catalog.Occurrence",
    "catalog.Revision",
    "delivery.Delivery",
    "core.AuditEvent",
    "core.AuditSeal",
]


@pytest.mark.parametrize("label", AUDITED)
def test_the_admin_cannot_write_audited_models_even_for_a_superuser(label):
    from django.apps import apps

    model = apps.get_model(label)
    model_admin = admin.site._registry[model]
    assert isinstance(model_admin, AuditedReadOnlyAdmin)
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(username="su")
    request.user.is_superuser = True
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)


def test_policy_versions_are_created_through_the_service_and_never_changed():
    from reviewapp.governance.models import PolicyVersion

    model_admin = admin.site._registry[PolicyVersion]
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(username="su2")
    request.user.is_superuser = True
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


# --- lease renewals -----------------------------------------------------------------------
def test_lease_renewals_are_audited_once_per_interval(pooled_reviewer, fraud_model, settings):
    settings.AUDIT_LEASE_RENEW_EVERY_SECONDS = 600
    fx.make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    # Just before a 10-minute boundary: the renewal crosses it.
    now = timezone.now()
    boundary = dt.datetime.fromtimestamp((now.timestamp() // 600 + 1) * 600, tz=dt.UTC)
    ReviewItem.objects.filter(pk=item.pk).update(
        claim_expires_at=boundary - dt.timedelta(seconds=1)
    )
    settings.REVIEW_CLAIM_LEASE_SECONDS = int((boundary - now).total_seconds()) + 30
    review_item_renew(item_id=item.pk, user=pooled_reviewer, generation=item.claim_generation)
    [renewed] = events("queue.review_item.lease_renewed")
    assert renewed.actor_label == pooled_reviewer.get_username()
    assert renewed.target_id == str(item.pk)
    assert renewed.before["claim_expires_at"] < renewed.after["claim_expires_at"]
    # A renewal that stays within the same interval writes nothing.
    ReviewItem.objects.filter(pk=item.pk).update(
        claim_expires_at=boundary + dt.timedelta(seconds=1)
    )
    settings.REVIEW_CLAIM_LEASE_SECONDS = int((boundary - now).total_seconds()) + 60
    review_item_renew(item_id=item.pk, user=pooled_reviewer, generation=item.claim_generation)
    assert len(events("queue.review_item.lease_renewed")) == 1


def test_every_renewal_is_audited_when_the_interval_is_zero(pooled_reviewer, fraud_model, settings):
    settings.AUDIT_LEASE_RENEW_EVERY_SECONDS = 0
    fx.make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    for _ in range(3):
        review_item_renew(item_id=item.pk, user=pooled_reviewer, generation=item.claim_generation)
    assert len(events("queue.review_item.lease_renewed")) == 3


# --- the demo -----------------------------------------------------------------------------
def test_seed_demo_publishes_its_guidelines_through_the_service(tmp_path, settings):
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--if-empty", "--days", "1", stdout=open("/dev/null", "w"))  # noqa: SIM115
    published = events("queue.guideline.published")
    assert published and len(published) == GuidelineVersion.objects.count()
    assert {e.actor_label for e in published} == {"lee"}
