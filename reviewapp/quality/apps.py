from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "reviewapp.quality"
    label = "quality"
    verbose_name = "Review quality"

    def ready(self) -> None:
        from . import hooks

        hooks.register()
