from django.apps import AppConfig

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
