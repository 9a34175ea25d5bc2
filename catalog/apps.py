from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# Duplicate hints while drafting compare a new title with existing ones by trigram word
# similarity. pg_trgm's default threshold (0.6) misses one-letter typos in 8–10 letter words
# ("tokenzer" vs "tokenizer" scores 0.58); 0.5 catches them while a title word still has to
# share most of its trigrams. (Search corrects spelling from a vocabulary: catalog.search.)
TRIGRAM_WORD_THRESHOLD = 0.5


def _set_trigram_threshold(sender, connection, **kwargs) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)",
                [str(TRIGRAM_WORD_THRESHOLD)],
            )


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Failure-mode catalog"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        connection_created.connect(_set_trigram_threshold, dispatch_uid="catalog-trigram")

        from .verbs import register_audit_verbs

        register_audit_verbs()

        from reviewapp.core import registry
        from reviewapp.core.roles import CATALOG_EDITOR, COMMITTEE, ENGINEER, LEAD, REVIEWER

        registry.register_nav_section(
            key="catalog", label=_("Catalog"), url_name="catalog:search", roles=None, order=40
        )
        # Everyone with a role reads the catalog (reviewers tag decisions from it). Editors
        # edit and publish, but never their own entry (catalog services enforce that).
        read = ["view_failuremode", "view_mitigationtemplate", "view_casestudy"]
        draft = ["add_failuremode", "add_mitigationtemplate", "add_casestudy"]
        registry.register_role_permissions(
            self.label,
            {
                REVIEWER: read,
                LEAD: read,
                COMMITTEE: read,
                CATALOG_EDITOR: [
                    *read,
                    *draft,
                    "change_failuremode",
                    "publish_failuremode",
                    "change_mitigationtemplate",
                    "change_casestudy",
                ],
                ENGINEER: [*read, *draft],
            },
        )
