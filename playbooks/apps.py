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
        # Everyone with a role reads playbooks; engineers and leads write and publish them.
        write = ["view_playbook", "add_playbook", "change_playbook", "publish_playbook"]
        registry.register_role_permissions(
            self.label,
            {
                REVIEWER: ["view_playbook"],
                COMMITTEE: ["view_playbook"],
                CATALOG_EDITOR: ["view_playbook"],
                ENGINEER: write,
                LEAD: write,
            },
        )
        # The catalog's entry pages offer "Draft a playbook" and "Playbooks for this" without
        # importing this app.
        from .views import catalog_entry_actions

        registry.register_hook("catalog.entry_actions", catalog_entry_actions)
