from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    name = "playbooks"
    verbose_name = "Playbooks and incidents"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from reviewapp.core import registry
        from reviewapp.core.roles import CATALOG_EDITOR, COMMITTEE, ENGINEER, LEAD, REVIEWER

        from .verbs import register_audit_verbs

        register_audit_verbs()
        registry.register_nav_section(
            key="playbooks",
            label=_("Playbooks"),
            url_name="playbooks:list",
            roles={REVIEWER, LEAD, COMMITTEE, CATALOG_EDITOR, ENGINEER},
            order=45,
        )
        registry.register_nav_section(
            key="incidents",
            label=_("Incidents"),
            url_name="incidents:list",
            roles={REVIEWER, LEAD, COMMITTEE, CATALOG_EDITOR, ENGINEER},
            order=46,
        )
        # Everyone with a role reads playbooks and the incidents of the models they see;
        # engineers and leads write and publish playbooks and run incidents.
        read = ["view_playbook", "view_incident"]
        write = [
            *read, "add_playbook", "change_playbook", "publish_playbook", "add_incident",
            "change_incident", "run_incident",
        ]  # fmt: skip
        registry.register_role_permissions(
            self.label,
            {
                REVIEWER: read,
                COMMITTEE: read,
                CATALOG_EDITOR: read,
                ENGINEER: write,
                LEAD: write,
            },
        )
        # The catalog's entry pages offer "Draft a playbook" and "Playbooks for this" without
        # importing this app.
        from .views import catalog_entry_actions

        registry.register_hook("catalog.entry_actions", catalog_entry_actions)
        # The commander of an open incident on a model may contain or halt it (only leads
        # lift: the switch checks that).
        from .incidents.services import commander_may_stop

        registry.register_hook("failsafe.may_stop_model", commander_may_stop)
        # A playbook's escalation point notifies the role it escalates to.
        from .incidents.steps import register_notification_kinds

        register_notification_kinds()
        # Other apps' pages of a model link to its incident metrics.
        from .incidents.views_metrics import model_actions

        registry.register_hook("core.model_actions", model_actions)
        # Issue 16's affected predictions, re-review and root cause: their sections on the
        # incident page and their objections to "verify".
        from .incidents import guards, ledger, page, rca, views_impact

        guards.CHECKS.extend([ledger.recheck_guard, rca.root_cause_guard])
        page.PROVIDERS.append(views_impact.sections)
        # Post-mortems and action items (issue 16): the page section, the S1/S2 closing
        # guard, the owner's notifications and the top bar's count of their overdue items.
        from .incidents import actions, guards, page, postmortem, views_postmortem

        if views_postmortem.sections not in page.PROVIDERS:
            page.PROVIDERS.append(views_postmortem.sections)
        if postmortem.close_needs_postmortem not in guards.CHECKS:
            guards.CHECKS.append(postmortem.close_needs_postmortem)
        actions.register_notification_kinds()
        registry.register_hook("core.user_annotations", actions.overdue_annotation)
        registry.register_nav_counter(
            key="my-actions",
            label=_("My actions"),
            url_name="incidents:my-actions",
            # Overdue ones, in the top bar while there are any; every role finds its action
            # items in the user menu ("My action items").
            roles={REVIEWER, LEAD, COMMITTEE, CATALOG_EDITOR, ENGINEER},
            count=actions.overdue_count,
            order=20,
            quiet=True,
        )
        registry.register_tool(
            key="my-actions",
            label=_("My action items"),
            url_name="incidents:my-actions",
            roles={REVIEWER, LEAD, COMMITTEE, CATALOG_EDITOR, ENGINEER},
            order=25,
        )
        # Opening from elsewhere (issue 16): an alert's page, a review item's page and the
        # queue's bulk bar show our links; a monitor's stop on a persistent shift opens one.
        from .incidents import counts, opening, page, timeline, views_opening

        opening.register_notification_kinds()
        registry.register_hook("failsafe.alert_actions", views_opening.alert_actions)
        registry.register_hook("queue.item_actions", views_opening.item_actions)
        registry.register_hook("failsafe.mode_changed", opening.on_mode_changed)
        # Keyed like the "Incidents" section: its count shows beside that link.
        registry.register_nav_counter(
            key="incidents",
            label=_("Open incidents"),
            url_name="incidents:list",
            roles={ENGINEER, LEAD},
            count=counts.open_count,
            order=20,
        )
        if views_opening.sections not in page.PROVIDERS:
            page.PROVIDERS.insert(0, views_opening.sections)
        if timeline.sections not in page.PROVIDERS:
            page.PROVIDERS.append(timeline.sections)
