from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "reviewapp.governance"
    label = "governance"
    verbose_name = "Governance"
