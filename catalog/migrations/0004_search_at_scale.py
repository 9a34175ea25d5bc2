"""Search that stays fast at tens of thousands of entries (PostgreSQL only).

- ``rank_vector``: title (A) with summary and keywords (B). Every field still decides *whether*
  an entry matches (``search_vector``), but ranking reads this small vector, so ordering 20,000
  matches no longer decompresses 20,000 large ones. A body-only match ranks below any title or
  summary match.
- Storage: rows are kept narrow (``toast_tuple_target``) so the long text fields and the full
  vector live out of line and a scan of the matches, their count and facets touch a few
  thousand pages instead of tens of thousands; the title, rank vector and tag ids stay in the
  row. (``catalog.search.index_scans`` keeps the planner on the GIN index, since it does not
  price fetching out-of-line values.)
- ``catalog_failuremode.tag_ids``: the entry's tag ids, kept by statement triggers on the tag
  links (GIN-indexed), so tag filters and facets read an array instead of joining every link.
- ``catalog_searchword``: every word of the catalog (unstemmed), trigram-indexed, kept by the
  row triggers, so a misspelt query word is corrected to the closest real word.
"""

from django.contrib.postgres.search import SearchVectorField
from django.db import migrations

# table: (title, summary-like (B), body (C)) as SQL over NEW.
TABLES = {
    "catalog_failuremode": (
        "coalesce(NEW.summary,'') || ' ' || coalesce(NEW.keywords,'')",
        "concat_ws(' ', NEW.cause, NEW.effect, NEW.latent_conditions, NEW.trigger_steps, "
        "NEW.detection_signals, NEW.business_impact)",
        "title, summary, keywords, cause, effect, latent_conditions, trigger_steps, "
        "detection_signals, business_impact",
    ),
    "catalog_mitigationtemplate": (
        "coalesce(NEW.summary,'')",
        "concat_ws(' ', NEW.detector_signals, NEW.alert_thresholds, NEW.procedure_steps::text, "
        "NEW.rollback_procedure, NEW.fallback_plan, NEW.trade_offs)",
        "title, summary, detector_signals, alert_thresholds, procedure_steps, "
        "rollback_procedure, fallback_plan, trade_offs",
    ),
    "catalog_casestudy": (
        "coalesce(NEW.summary,'')",
        "coalesce(NEW.narrative,'')",
        "title, summary, narrative",
    ),
}

# Words worth offering as corrections: letters (with inner hyphens or apostrophes), 3-40 long.
# (The quote is doubled: the pattern sits inside an SQL string literal.)
WORD_PATTERN = "^[[:alpha:]][[:alpha:]''-]{1,38}[[:alpha:]]$"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    run("CREATE TABLE catalog_searchword (word text PRIMARY KEY)")
    run("CREATE INDEX catalog_searchword_trgm ON catalog_searchword USING gin (word gin_trgm_ops)")
    for table, (b_expr, c_expr, columns) in TABLES.items():
        run(f"""
            CREATE OR REPLACE FUNCTION {table}_tsv() RETURNS trigger AS $$
            DECLARE
              body text := {c_expr};
              head text := {b_expr};
            BEGIN
              NEW.rank_vector :=
                setweight(to_tsvector('english', coalesce(NEW.title,'')), 'A') ||
                setweight(to_tsvector('english', head), 'B');
              NEW.search_vector := NEW.rank_vector ||
                setweight(to_tsvector('english', body), 'C');
              INSERT INTO catalog_searchword (word)
                SELECT w FROM unnest(tsvector_to_array(to_tsvector(
                  'simple', concat_ws(' ', NEW.title, head, body)))) AS w
                WHERE w ~ '{WORD_PATTERN}'
                ON CONFLICT DO NOTHING;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
        """)
        # Only edits of the searched text recompute the vectors (not, say, a tag_ids update).
        run(f"DROP TRIGGER IF EXISTS {table}_tsv_trg ON {table}")
        run(f"""
            CREATE TRIGGER {table}_tsv_trg BEFORE INSERT OR UPDATE OF {columns} ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_tsv();
        """)
        run(f"ALTER TABLE {table} ALTER COLUMN title SET STORAGE MAIN")
        run(f"ALTER TABLE {table} ALTER COLUMN rank_vector SET STORAGE MAIN")
        run(f"ALTER TABLE {table} ALTER COLUMN search_vector SET STORAGE EXTERNAL")
        run(f"ALTER TABLE {table} SET (toast_tuple_target = 128)")
        # Rewrite existing rows: fills the new vector and the vocabulary, applies the storage.
        run(f"UPDATE {table} SET title = title")

    run("ALTER TABLE catalog_failuremode ADD COLUMN tag_ids integer[] NOT NULL DEFAULT '{}'")
    run("ALTER TABLE catalog_failuremode ALTER COLUMN tag_ids SET STORAGE MAIN")
    run("CREATE INDEX catalog_failuremode_tag_ids_gin ON catalog_failuremode USING gin (tag_ids)")
    run("""
        CREATE OR REPLACE FUNCTION catalog_failuremode_tag_ids() RETURNS trigger AS $$
        BEGIN
          UPDATE catalog_failuremode AS f
             SET tag_ids = coalesce((SELECT array_agg(l.tag_id ORDER BY l.tag_id)
                                       FROM catalog_failuremode_tags l
                                      WHERE l.failuremode_id = f.id), '{}')
           WHERE f.id IN (SELECT failuremode_id FROM changed);
          RETURN NULL;
        END $$ LANGUAGE plpgsql;
    """)
    for event, table in (("INSERT", "NEW"), ("DELETE", "OLD")):
        run(f"""
            CREATE TRIGGER catalog_failuremode_tags_{event.lower()}_trg
            AFTER {event} ON catalog_failuremode_tags REFERENCING {table} TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION catalog_failuremode_tag_ids();
        """)
    run("""
        UPDATE catalog_failuremode AS f SET tag_ids = l.ids
          FROM (SELECT failuremode_id, array_agg(tag_id ORDER BY tag_id) AS ids
                  FROM catalog_failuremode_tags GROUP BY failuremode_id) AS l
         WHERE l.failuremode_id = f.id
    """)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    for event in ("insert", "delete"):
        run(f"DROP TRIGGER IF EXISTS catalog_failuremode_tags_{event}_trg ON catalog_failuremode_tags")
    run("DROP FUNCTION IF EXISTS catalog_failuremode_tag_ids()")
    run("ALTER TABLE catalog_failuremode DROP COLUMN IF EXISTS tag_ids")
    run("DROP TABLE IF EXISTS catalog_searchword")
    for table, (b_expr, c_expr, _columns) in TABLES.items():
        run(f"ALTER TABLE {table} RESET (toast_tuple_target)")
        run(f"""
            CREATE OR REPLACE FUNCTION {table}_tsv() RETURNS trigger AS $$
            BEGIN
              NEW.search_vector :=
                setweight(to_tsvector('english', coalesce(NEW.title,'')), 'A') ||
                setweight(to_tsvector('english', {b_expr}), 'B') ||
                setweight(to_tsvector('english', {c_expr}), 'C');
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
        """)
        run(f"DROP TRIGGER IF EXISTS {table}_tsv_trg ON {table}")
        run(f"""
            CREATE TRIGGER {table}_tsv_trg BEFORE INSERT OR UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_tsv();
        """)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_seed_taxonomy")]

    operations = [
        migrations.AddField(
            model_name="casestudy",
            name="rank_vector",
            field=SearchVectorField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="failuremode",
            name="rank_vector",
            field=SearchVectorField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="mitigationtemplate",
            name="rank_vector",
            field=SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(forwards, backwards),
    ]
