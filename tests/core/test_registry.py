"""Apps register their nav sections, tools, role permissions, body limits and hooks with core."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import NoReverseMatch

from reviewapp.core import checks, registry, roles
from reviewapp.core.context_processors import navigation
from tests.factories import UserFactory


@pytest.fixture
def scratch_registry(monkeypatch):
    """Let a test register things without leaving them behind."""
    monkeypatch.setattr(registry, "_sections", dict(registry._sections))
    monkeypatch.setattr(registry, "_tools", dict(registry._tools))
    monkeypatch.setattr(registry, "_role_permissions", dict(registry._role_permissions))
    monkeypatch.setattr(registry, "_body_limits", dict(registry._body_limits))
    monkeypatch.setattr(registry, "_hooks", {})


def nav_for(user):
    request = RequestFactory().get("/")
    request.user = user
    request.resolver_match = None
    return navigation(request)


# --- navigation ---------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "sections", "tools"),
    [
        (
            roles.REVIEWER,
            ["queue", "dashboards", "failsafe", "catalog", "playbooks", "incidents"],
            ["My account", "My decisions", "My scorecard", "My action items"],
        ),
        (
            roles.LEAD,
            [
                "queue",
                "dashboards",
                "failsafe",
                "governance",
                "quality",
                "catalog",
                "playbooks",
                "incidents",
            ],
            [
                "My account",
                "My decisions",
                "Decision delivery",
                "Export labels",
                "My action items",
                "Rejected envelopes",
                "Gold items",  # quality: gold
                "Audit log",
                "Sign-in lockouts",
            ],
        ),
        (
            roles.COMMITTEE,
            [
                "dashboards",
                "failsafe",
                "governance",
                "quality",
                "catalog",
                "playbooks",
                "incidents",
            ],
            ["My account", "My action items", "Gold items", "Audit log"],
        ),
        (
            roles.CATALOG_EDITOR,
            ["catalog", "playbooks", "incidents"],
            ["My account", "My action items"],
        ),
        (
            roles.ENGINEER,
            [
                "queue",
                "dashboards",
                "failsafe",
                "governance",
                "quality",
                "catalog",
                "playbooks",
                "incidents",
            ],
            ["My account", "Export labels", "My action items", "Rejected envelopes", "Gold items"],
        ),
    ],
)
def test_each_role_sees_its_sections_and_tools_in_order(role, sections, tools):
    nav = nav_for(UserFactory(roles=[role]))
    assert [s["key"] for s in nav["nav_sections"]] == sections
    assert [str(t["label"]) for t in nav["nav_tools"]] == tools


def test_issue_16_pages_have_their_sections():
    keys = {s.key for s in registry.nav_sections()}
    assert "governance" in keys  # the committee home and the change-request pages
    assert "playbooks" in keys  # issue 16's first part
    assert "incidents" in keys  # its second part


def test_every_registered_entry_reverses():
    assert checks.check_nav_urls() == []


def test_an_entry_whose_url_does_not_reverse_is_a_check_error(scratch_registry):
    registry.register_nav_section(
        key="governance", label="Governance", url_name="governance:policies", roles=None, order=30
    )
    registry.register_tool(
        key="nowhere", label="Nowhere", url_name="no-such-page", roles={roles.LEAD}, order=99
    )
    errors = checks.check_nav_urls()
    assert [e.id for e in errors] == ["core.E001", "core.E001"]
    assert "governance:policies" in errors[0].msg
    assert "no-such-page" in errors[1].msg


@pytest.mark.django_db
def test_the_top_bar_does_not_hide_an_entry_that_does_not_reverse(scratch_registry):
    registry.register_nav_section(
        key="playbooks", label="Playbooks", url_name="playbooks:index", roles=None, order=50
    )
    with pytest.raises(NoReverseMatch):
        nav_for(UserFactory(roles=[roles.REVIEWER]))


def test_an_unknown_role_is_refused(scratch_registry):
    with pytest.raises(ImproperlyConfigured):
        registry.register_tool(key="x", label="X", url_name="home", roles={"admin"}, order=1)
    with pytest.raises(ImproperlyConfigured):
        registry.register_role_permissions("catalog", {"auditor": ["view_failuremode"]})


def test_registering_again_replaces(scratch_registry):
    before = len(registry.nav_sections())
    apps.get_app_config("dashboards").ready()
    assert len(registry.nav_sections()) == before


# --- role permissions ---------------------------------------------------------------------
# What the role groups held before apps declared their own permissions: the same, exactly.
CATALOG_READ = [
    "catalog.view_casestudy",
    "catalog.view_failuremode",
    "catalog.view_mitigationtemplate",
]
QUEUE_READ = [
    "governance.view_policyversion",
    "reviewapp.view_mlmodel",
    "reviewapp.view_prediction",
    "reviewapp.view_reviewitem",
]
# Change requests and governed documents other than the policy (governance, issue 13).
GOVERNANCE_READ = ["governance.view_changerequest", "governance.view_documentversion"]
# Playbooks (issue 16): every role reads, engineers and leads write and publish.
# Incidents too: every role reads those of the models it sees; engineers and leads run them.
PLAYBOOKS_READ = ["playbooks.view_incident", "playbooks.view_playbook"]
PLAYBOOKS_WRITE = [
    *PLAYBOOKS_READ,
    "playbooks.add_incident",
    "playbooks.add_playbook",
    "playbooks.change_incident",
    "playbooks.change_playbook",
    "playbooks.publish_playbook",
    "playbooks.run_incident",
]
EXPECTED_GROUPS = {
    roles.CATALOG_EDITOR: [
        *CATALOG_READ,
        "catalog.add_casestudy",
        "catalog.add_failuremode",
        "catalog.add_mitigationtemplate",
        "catalog.change_casestudy",
        "catalog.change_failuremode",
        "catalog.change_mitigationtemplate",
        "catalog.publish_failuremode",
        *PLAYBOOKS_READ,
    ],
    roles.COMMITTEE: [
        *CATALOG_READ,
        *QUEUE_READ,
        *GOVERNANCE_READ,
        "governance.approve_policychange",
        *PLAYBOOKS_READ,
    ],
    roles.ENGINEER: [
        *CATALOG_READ,
        *QUEUE_READ,
        *GOVERNANCE_READ,
        "catalog.add_casestudy",
        "catalog.add_failuremode",
        "catalog.add_mitigationtemplate",
        "reviewapp.view_rejectedenvelope",
        *PLAYBOOKS_WRITE,
    ],
    roles.LEAD: [
        *CATALOG_READ,
        *QUEUE_READ,
        *GOVERNANCE_READ,
        "delivery.retry_delivery",
        "delivery.view_delivery",
        "reviewapp.configure_callback",
        "reviewapp.configure_presentation",
        "reviewapp.decide_reviewitem",
        "reviewapp.manage_queue",
        "reviewapp.view_rejectedenvelope",
        *PLAYBOOKS_WRITE,
    ],
    roles.REVIEWER: [*CATALOG_READ, *QUEUE_READ, "reviewapp.decide_reviewitem", *PLAYBOOKS_READ],
}


def group_permissions() -> dict[str, list[str]]:
    return {
        group.name: sorted(
            f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()
        )
        for group in Group.objects.filter(name__in=roles.ROLES).prefetch_related(
            "permissions__content_type"
        )
    }


@pytest.mark.django_db
def test_the_role_groups_hold_exactly_the_permissions_they_held_before():
    assert group_permissions() == {role: sorted(p) for role, p in EXPECTED_GROUPS.items()}
    assert {role: sorted(p) for role, p in registry.role_permissions().items()} == {
        role: sorted(p) for role, p in EXPECTED_GROUPS.items()
    }


@pytest.mark.django_db
def test_every_permission_an_app_grants_exists():
    roles.sync_role_permissions(Group, Permission, strict=True)  # raises on a misspelling
    assert group_permissions() == {role: sorted(p) for role, p in EXPECTED_GROUPS.items()}


@pytest.mark.django_db
def test_a_misspelled_permission_fails_the_sync_after_migrate(scratch_registry):
    registry.register_role_permissions(
        "catalog", {roles.REVIEWER: ["view_failuremode", "view_falure_mode"]}
    )
    with pytest.raises(ImproperlyConfigured, match="catalog.view_falure_mode"):
        roles.sync_role_permissions(Group, Permission, strict=True)
    last = [c for c in apps.get_app_configs() if c.models_module is not None][-1]
    with pytest.raises(ImproperlyConfigured, match="catalog.view_falure_mode"):
        roles.sync_role_permissions_signal(sender=last, using="default")
    # Inside migrations, before every app's permissions exist, a missing one is skipped.
    roles.sync_role_permissions(Group, Permission)


# --- body limits --------------------------------------------------------------------------
def test_body_limits_come_from_the_apps(settings, scratch_registry):
    settings.INGEST_MAX_BODY_BYTES = 1000
    settings.INGEST_MAX_BATCH_BODY_BYTES = 5000
    assert registry.body_limit_for("/api/v1/predictions") == 1000
    assert registry.body_limit_for("/api/v1/predictions/batch") == 5000
    assert registry.body_limit_for("/api/v1/predictions/batch/") == 5000
    assert registry.body_limit_for("/queue/items/1/decide/") is None
    registry.register_body_limit(path="/api/v1/big/", prefix=True, limit=lambda: 9)
    assert registry.body_limit_for("/api/v1/big/thing") == 9


# --- hooks --------------------------------------------------------------------------------
def test_hooks_run_in_registration_order_and_skip_none(scratch_registry):
    def banner(*, model):
        return f"{model} is in shadow mode"

    def quiet(*, model):
        return None

    def second(*, model):
        return "second"

    assert registry.run_hooks("model_banner", model="card-fraud") == []
    registry.register_hook("model_banner", banner)
    registry.register_hook("model_banner", quiet)
    registry.register_hook("model_banner", second)
    registry.register_hook("model_banner", banner)  # once only
    assert registry.run_hooks("model_banner", model="card-fraud") == [
        "card-fraud is in shadow mode",
        "second",
    ]
    registry.unregister_hook("model_banner", second)
    assert registry.run_hooks("model_banner", model="m") == ["m is in shadow mode"]
    assert registry.run_hooks("other_hook", model="m") == []
