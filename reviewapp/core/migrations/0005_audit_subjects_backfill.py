"""Index the subjects of batch events written before subject rows existed.

Reads events and writes ``AuditSubject`` rows only: no event or seal is changed, so the hash
chain verifies exactly as before. The rules are frozen here (old and new verb names, the data
keys each stored) rather than imported from the apps, so this migration keeps meaning what it
meant when later code changes. Events that already have subject rows are skipped, so running
it again (or after new code wrote some rows) adds nothing twice.

Not every batch event can be indexed from its data alone: an outbox fill recorded only its
delivery ids (the items came later), and the catalog's stewardship reminder names failure
modes by slug. Those keep what their data says; new events of both name their subjects.

The reverse is a no-op: the rows are append-only (on PostgreSQL a trigger refuses DELETE),
and they are only an index of events that stay; reversing 0004 drops the table with them.
"""

from django.db import migrations

PREDICTION = "reviewapp.prediction"
ITEM = "reviewapp.reviewitem"
DELIVERY = "delivery.delivery"

# verb (old and current names) -> {data key: subject type}
BATCH_KEYS = {
    "prediction.ingested": {"ids": PREDICTION},
    "queue.prediction.ingested": {"ids": PREDICTION},
    "prediction.routed": {"ids": PREDICTION, "to_review": PREDICTION, "passed": PREDICTION},
    "queue.prediction.routed": {"ids": PREDICTION, "to_review": PREDICTION, "passed": PREDICTION},
    "review_item.sla_near": {"ids": ITEM},
    "queue.review_item.sla_warned": {"ids": ITEM},
    "delivery.enqueued": {"deliveries": DELIVERY, "items": ITEM},
    "delivery.delivery.enqueued": {"deliveries": DELIVERY, "items": ITEM},
}
CHUNK = 2000


def subjects_of(verb: str, data: object) -> list[tuple[str, str]]:
    """The (type, id) pairs a batch event's data names, each once, in data order."""
    keys = BATCH_KEYS.get(verb)
    if not keys or not isinstance(data, dict):
        return []
    found: dict[tuple[str, str], None] = {}
    for key, kind in keys.items():
        values = data.get(key)
        if isinstance(values, list):
            for value in values:
                if isinstance(value, int | str) and not isinstance(value, bool):
                    found[(kind, str(value))] = None
    return list(found)


def backfill(apps, schema_editor) -> int:
    """Write the missing subject rows; returns how many were written."""
    AuditEvent = apps.get_model("core", "AuditEvent")
    AuditSubject = apps.get_model("core", "AuditSubject")
    events = AuditEvent.objects.filter(verb__in=list(BATCH_KEYS)).order_by("id")
    # Read once (subject rows have no index by event): batch events are one per chunk of
    # hundreds of predictions, so this set stays small.
    done = set(AuditSubject.objects.values_list("event_id", flat=True).distinct())
    written = 0
    last_id = 0
    while True:
        chunk = list(events.filter(id__gt=last_id).values_list("id", "verb", "data")[:CHUNK])
        if not chunk:
            return written
        last_id = chunk[-1][0]
        rows = [
            AuditSubject(event_id=pk, target_type=kind, target_id=target_id)
            for pk, verb, data in chunk
            if pk not in done
            for kind, target_id in subjects_of(verb, data)
        ]
        AuditSubject.objects.bulk_create(rows, batch_size=1000)
        written += len(rows)


def forwards(apps, schema_editor) -> None:
    backfill(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("core", "0004_audit_subject")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
