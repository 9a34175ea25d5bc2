from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "reviewapp.dashboards"
    label = "dashboards"
    verbose_name = "Dashboards"
