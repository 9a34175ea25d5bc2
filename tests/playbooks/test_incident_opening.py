"""Opening incidents from everywhere (issue 16): one click on an alert, links from a catalog
entry, a playbook and review items, and by themselves when a monitor stops a model."""

from __future__ import annotations

import pytest
from django.test import override_settings

from playbooks import services as playbook_services
from playbooks.incidents import opening, services
from playbooks.models import Incident
from reviewapp.core.models import AuditEvent, Notification
from reviewapp.failsafe.models import Alert
from reviewapp.failsafe.services.modes import mode_change
from reviewapp.models import PoolMembership
from tests.delivery.factories import make_item
from tests.factories import MLModelFactory
from tests.failsafe.alert_helpers import make_alert

from .conftest import valid_doc

pytestmark = pytest.mark.django_db

READERS = ("reviewer_in_pool", "committee")


@pytest.fixture
def model():
    return MLModelFactory(slug="card-fraud")


def active_playbook(actor, **changes):
    pb = playbook_services.playbook_create(actor=actor, document=valid_doc(**changes))
    return playbook_services.playbook_transition(
        playbook=pb, actor=actor, event="publish", base_version=pb.version
    )


def login(client, people, who, model):
    if who == "reviewer_in_pool":
        PoolMembership.objects.create(user=people["reviewer"], model=model)
        who = "reviewer"
    if who == "reviewer_outside":
        who = "reviewer"
    client.force_login(people[who])


# -- one click from an alert --------------------------------------------------------------


def test_one_click_opens_with_the_alerts_facts_and_the_monitors_playbook(people, model, catalog):
    playbook = active_playbook(people["engineer"])  # its trigger: the monitor ood-rate
    alert = make_alert(model, monitor="ood-rate", severity="S1")
    incident, created = opening.incident_open_from_alert(actor=people["lead"], alert_id=alert.pk)
    assert created
    assert incident.severity == "S1" and incident.source == "alert"
    assert incident.commander == people["lead"]
    assert incident.impact_started_at == alert.since
    assert incident.title == "card-fraud: ood rate out of bounds"
    assert list(incident.alert_links.values_list("alert_id", flat=True)) == [alert.pk]
    assert list(incident.model_links.values_list("model__slug", flat=True)) == ["card-fraud"]
    assert incident.playbook_version.playbook == playbook
    # A second click hands back the same incident.
    again, created = opening.incident_open_from_alert(actor=people["engineer"], alert_id=alert.pk)
    assert (again.pk, created) == (incident.pk, False)
    assert Incident.objects.count() == 1


def test_two_matching_playbooks_pin_none(people, model, catalog):
    active_playbook(people["engineer"])
    active_playbook(people["engineer"], title="Another drift runbook")
    alert = make_alert(model, monitor="ood-rate")
    incident, _ = opening.incident_open_from_alert(actor=people["lead"], alert_id=alert.pk)
    assert incident.playbook_version is None


@pytest.mark.parametrize("who", ["engineer", "lead"])
def test_the_alert_page_offers_the_button_and_the_post_lands_on_the_incident(
    client, people, model, who
):
    alert = make_alert(model, severity="S2")
    client.force_login(people[who])
    page = client.get(f"/failsafe/alerts/{alert.pk}/")
    assert page.status_code == 200
    assert b"Open an incident" in page.content
    response = client.post(f"/incidents/from-alert/{alert.pk}/")
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/"
    page = client.get(f"/failsafe/alerts/{alert.pk}/")
    assert b"Open an incident" not in page.content
    assert incident.reference.encode() in page.content
    # Posting again does not open a second one.
    client.post(f"/incidents/from-alert/{alert.pk}/")
    assert Incident.objects.count() == 1


@pytest.mark.parametrize("who", READERS)
def test_readers_see_the_linked_incident_but_no_button_and_may_not_post(client, people, model, who):
    alert = make_alert(model)
    incident, _ = opening.incident_open_from_alert(actor=people["lead"], alert_id=alert.pk)
    login(client, people, who, model)
    page = client.get(f"/failsafe/alerts/{alert.pk}/")
    assert page.status_code == 200
    assert incident.reference.encode() in page.content
    assert b"Open an incident" not in page.content
    other = make_alert(model, monitor="ood_rate")
    assert client.post(f"/incidents/from-alert/{other.pk}/").status_code == 403
    assert Incident.objects.count() == 1


def test_an_alert_outside_the_pools_is_404_and_an_unknown_one_too(client, people, model):
    alert = make_alert(model)
    client.force_login(people["reviewer"])
    assert client.get(f"/failsafe/alerts/{alert.pk}/").status_code == 404
    client.force_login(people["engineer"])
    assert client.post("/incidents/from-alert/999999/").status_code == 404
    assert client.get(f"/incidents/from-alert/{alert.pk}/").status_code == 405
    assert not Incident.objects.exists()


def test_a_closed_incident_on_the_alert_allows_a_new_one(people, model):
    alert = make_alert(model)
    first, _ = opening.incident_open_from_alert(actor=people["lead"], alert_id=alert.pk)
    Incident.objects.filter(pk=first.pk).update(status="cancelled")
    second, created = opening.incident_open_from_alert(actor=people["lead"], alert_id=alert.pk)
    assert created and second.pk != first.pk


# -- links from the catalog, a playbook, review items --------------------------------------


@pytest.mark.parametrize("who", ["engineer", "lead"])
def test_a_catalog_entry_offers_open_and_the_form_proposes_its_playbooks_first(
    client, people, model, catalog, who
):
    active_playbook(people["engineer"], title="Aaa unrelated", failure_modes=[])
    active_playbook(people["engineer"], title="Zzz currency runbook")
    client.force_login(people[who])
    page = client.get("/catalog/f/currency-mix-drift/")
    assert page.status_code == 200
    assert b"/incidents/new/?failure_mode=currency-mix-drift" in page.content
    form = client.get("/incidents/new/?failure_mode=currency-mix-drift")
    assert form.status_code == 200
    assert form.context["form"].initial["source"] == "catalog"
    choices = [c for c in form.context["form"].fields["playbook"].choices if c[0]]
    assert choices[0][1].startswith("Zzz currency runbook")


@pytest.mark.parametrize("who", ["committee", "catalog_editor", "reviewer"])
def test_the_catalog_link_is_for_engineers_and_leads_only(client, people, catalog, who):
    client.force_login(people[who])
    page = client.get("/catalog/f/currency-mix-drift/")
    assert page.status_code == 200
    assert b"/incidents/new/?failure_mode=" not in page.content


@pytest.mark.parametrize(
    "who,shown", [("engineer", True), ("lead", True), ("committee", False), ("reviewer", False)]
)
def test_an_active_playbook_offers_to_start_an_incident(client, people, catalog, who, shown):
    playbook = active_playbook(people["engineer"])
    client.force_login(people[who])
    page = client.get(f"/playbooks/{playbook.slug}/")
    assert page.status_code == 200
    assert (b"Start an incident with this playbook" in page.content) is shown
    if shown:
        form = client.get(f"/incidents/new/?playbook={playbook.slug}")
        assert form.context["form"].initial["playbook"] == playbook.slug


def test_a_draft_playbook_does_not_offer_it(client, people, catalog):
    draft = playbook_services.playbook_create(actor=people["engineer"], document=valid_doc())
    client.force_login(people["engineer"])
    page = client.get(f"/playbooks/{draft.slug}/")
    assert b"Start an incident with this playbook" not in page.content


@pytest.mark.parametrize("who,shown", [("engineer", True), ("lead", True), ("reviewer", False)])
def test_a_review_items_page_offers_open_and_prefills_the_items(client, people, model, who, shown):
    item = make_item(model)
    login(client, people, "reviewer_in_pool" if who == "reviewer" else who, model)
    page = client.get(f"/queue/items/{item.pk}/")
    assert page.status_code == 200
    assert (f"/incidents/new/?items={item.pk}".encode() in page.content) is shown
    if shown:
        form = client.get(f"/incidents/new/?items={item.pk}")
        assert form.context["form"].initial["review_items"] == str(item.pk)
        assert form.context["form"].initial["models"] == ["card-fraud"]


def test_the_leads_bulk_bar_has_the_link_for_the_selection(client, people, model):
    make_item(model)
    client.force_login(people["lead"])
    page = client.get("/queue/")
    assert page.status_code == 200
    assert b'data-bulk-link="/incidents/new/?items="' in page.content


# -- automatic opening ----------------------------------------------------------------------


def monitor_stop(model, alert, mode="contained"):
    return mode_change(
        model=model, mode=mode, reason="uncertain rate past 0.15 for 30 min",
        monitor=alert.monitor, alert=alert,
    )  # fmt: skip


@pytest.mark.parametrize("severity,opens", [("S1", True), ("S2", True), ("S3", False)])
def test_the_default_threshold_is_s2(people, model, severity, opens):
    alert = make_alert(model, severity=severity)
    monitor_stop(model, alert)
    assert Incident.objects.exists() is opens


@override_settings(INCIDENT_AUTO_OPEN_SEVERITY="")
def test_an_empty_setting_never_opens(people, model):
    monitor_stop(model, make_alert(model, severity="S1"))
    assert not Incident.objects.exists()


@override_settings(INCIDENT_AUTO_OPEN_SEVERITY="S3")
def test_the_setting_moves_the_threshold(people, model):
    monitor_stop(model, make_alert(model, severity="S3"), mode="halted")
    assert Incident.objects.count() == 1


def test_a_spike_or_a_person_opens_nothing(people, model):
    spike = make_alert(model, shape=Alert.Shape.SPIKE, severity="S1")
    monitor_stop(model, spike)
    assert not Incident.objects.exists()
    other = MLModelFactory(slug="other-model")
    mode_change(model=other, mode="contained", reason="by hand", user=people["lead"])
    assert not Incident.objects.exists()


def test_the_auto_opened_incident_is_contained_at_the_switch_unattended_and_told(people, model):
    model.owners.add(people["engineer"])
    alert = make_alert(model, severity="S1")
    change = monitor_stop(model, alert)
    incident = Incident.objects.get()
    assert incident.status == "contained"
    assert incident.contained_at == change.created_at
    assert incident.commander is None and incident.opened_by is None
    assert incident.opened_by_monitor == "uncertain_rate" and incident.source == "monitor"
    assert incident.impact_started_at == alert.since
    assert list(incident.alert_links.values_list("alert_id", flat=True)) == [alert.pk]
    told = set(
        Notification.objects.filter(kind=opening.NOTICE_KIND).values_list(
            "recipient__username", flat=True
        )
    )
    assert told == {"sam", "lee"}
    contained = AuditEvent.objects.get(verb="playbooks.incident.contained")
    assert contained.actor_type == "system" and contained.actor_label == "monitor:uncertain_rate"


def test_an_open_incident_on_the_model_gets_the_alert_instead_of_a_second(people, model):
    mine = services.incident_open(
        actor=people["lead"], title="Already on it", severity="S2", model_slugs=[model.slug]
    )
    alert = make_alert(model, severity="S1")
    monitor_stop(model, alert)
    assert Incident.objects.count() == 1
    assert list(mine.alert_links.values_list("alert_id", flat=True)) == [alert.pk]
    assert AuditEvent.objects.filter(verb="playbooks.incident.linked").count() == 1


def test_no_second_incident_for_the_same_alert(people, model):
    alert = make_alert(model, severity="S1")
    monitor_stop(model, alert)
    # The same alert halts it later: still one incident.
    monitor_stop(model, alert, mode="halted")
    assert Incident.objects.count() == 1


def test_take_command_on_an_unattended_incident(client, people, model):
    monitor_stop(model, make_alert(model, severity="S1"))
    incident = Incident.objects.get()
    PoolMembership.objects.create(user=people["reviewer"], model=model)
    client.force_login(people["reviewer"])
    page = client.get(incident.get_absolute_url())
    assert b"Nobody commands this incident" in page.content
    assert b"Take command" not in page.content
    assert client.post(f"/incidents/{incident.pk}/take-command/").status_code == 403
    client.force_login(people["engineer"])
    page = client.get(incident.get_absolute_url())
    assert b"Take command" in page.content
    response = client.post(f"/incidents/{incident.pk}/take-command/")
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.commander == people["engineer"]
    assert b"Take command" not in client.get(incident.get_absolute_url()).content


def test_mark_contained_is_offered_when_every_model_is_stopped(client, people, model):
    incident = services.incident_open(
        actor=people["lead"], title="Drift", severity="S3", model_slugs=[model.slug]
    )
    client.force_login(people["lead"])
    page = client.get(incident.get_absolute_url())
    assert b"Every model of this incident is contained or halted" not in page.content
    mode_change(model=model, mode="contained", reason="stop it", user=people["lead"])
    page = client.get(incident.get_absolute_url())
    assert b"Every model of this incident is contained or halted" in page.content
    incident.refresh_from_db()
    assert incident.status == "detected"  # a person's switch moves nothing by itself


def test_nav_counter_counts_open_incidents_for_engineers_and_leads(client, people, model):
    services.incident_open(
        actor=people["lead"], title="Drift", severity="S3", model_slugs=[model.slug]
    )
    client.force_login(people["engineer"])
    body = client.get("/incidents/").content.decode()
    assert '<span class="nav-count" title="1 open">1</span>' in body
    services.incident_open(
        actor=people["lead"], title="More", severity="S3", model_slugs=[model.slug]
    )
    body = client.get("/incidents/").content.decode()
    assert '<span class="nav-count" title="2 open">2</span>' in body  # forgotten on opening
    client.force_login(people["committee"])
    assert 'title="2 open"' not in client.get("/incidents/").content.decode()
