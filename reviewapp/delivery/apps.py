from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "reviewapp.delivery"
    label = "delivery"
    verbose_name = "Decision delivery"
