"""PostgreSQL search machinery: pg_trgm, weighted tsvector triggers and GIN indexes.

Triggers (not application code) fill ``search_vector`` so every writer keeps it current,
including admin edits and bulk loads. Weights: title A, summary and keywords B, body C.
Nothing here runs on SQLite, where search takes the simpler path in catalog.search.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

TABLES = {
    "catalog_failuremode": (
        "coalesce(NEW.summary,'') || ' ' || coalesce(NEW.keywords,'')",
        "concat_ws(' ', NEW.cause, NEW.effect, NEW.latent_conditions, NEW.trigger_steps, "
        "NEW.detection_signals, NEW.business_impact)",
    ),
    "catalog_mitigationtemplate": (
        "coalesce(NEW.summary,'')",
        "concat_ws(' ', NEW.detector_signals, NEW.alert_thresholds, NEW.procedure_steps::text, "
        "NEW.rollback_procedure, NEW.fallback_plan, NEW.trade_offs)",
    ),
    "catalog_casestudy": (
        "coalesce(NEW.summary,'')",
        "coalesce(NEW.narrative,'')",
    ),
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, (b_expr, c_expr) in TABLES.items():
        schema_editor.execute(f"""
            CREATE OR REPLACE FUNCTION {table}_tsv() RETURNS trigger AS $$
            BEGIN
              NEW.search_vector :=
                setweight(to_tsvector('english', coalesce(NEW.title,'')), 'A') ||
                setweight(to_tsvector('english', {b_expr}), 'B') ||
                setweight(to_tsvector('english', {c_expr}), 'C');
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
        """)
        schema_editor.execute(f"""
            CREATE TRIGGER {table}_tsv_trg BEFORE INSERT OR UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_tsv();
        """)
        schema_editor.execute(
            f"CREATE INDEX {table}_tsv_gin ON {table} USING gin (search_vector)"
        )
        schema_editor.execute(
            f"CREATE INDEX {table}_title_trgm ON {table} USING gin (title gin_trgm_ops)"
        )
        # Fill rows that existed before the trigger.
        schema_editor.execute(f"UPDATE {table} SET title = title")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_tsv_trg ON {table}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_tsv()")
        schema_editor.execute(f"DROP INDEX IF EXISTS {table}_tsv_gin")
        schema_editor.execute(f"DROP INDEX IF EXISTS {table}_title_trgm")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(forwards, backwards),
    ]
