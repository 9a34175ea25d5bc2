from django.apps import AppConfig


class ReviewAppConfig(AppConfig):
    name = "reviewapp"
    label = "reviewapp"
    verbose_name = "Review queue"
