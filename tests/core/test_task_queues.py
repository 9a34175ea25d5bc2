"""Every Celery task goes to a declared queue by kind of work, and the Procfile's workers
consume every queue (README, "Workers per queue")."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from reviewapp.celery import app

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "failsafe.ingest_prediction": "ingest",
    "failsafe.route_predictions": "routing",
    "failsafe.route_model": "routing",
    "failsafe.delivery_send": "delivery",
    "failsafe.alert_webhook_send": "delivery",
    "failsafe.monitors_evaluate": "monitors",
    "failsafe.sweep_inbox": "maintenance",
    "failsafe.fold_rollups": "maintenance",
    "failsafe.seal_audit": "maintenance",
    "failsafe.governance_compute_evidence": "maintenance",
}


def _queue_of(task: str) -> str | None:
    route = app.amqp.router.route({}, task)
    queue = route.get("queue")
    return getattr(queue, "name", queue)


def test_every_task_is_routed_to_a_declared_queue():
    app.loader.import_default_modules()
    declared = {q.name for q in settings.CELERY_TASK_QUEUES}
    tasks = sorted(name for name in app.tasks if not name.startswith("celery."))
    assert len(tasks) > 20
    unrouted = [t for t in tasks if t not in settings.CELERY_TASK_ROUTES]
    assert unrouted == [], "route these tasks in CELERY_TASK_ROUTES"
    for task in tasks:
        assert _queue_of(task) in declared - {"default"}, task
    for task, queue in EXPECTED.items():
        assert _queue_of(task) == queue, task


def test_beat_only_schedules_routed_tasks():
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in settings.CELERY_TASK_ROUTES, entry["task"]


def test_the_procfile_worker_consumes_every_queue_and_monitors_has_its_own():
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    declared = {q.name for q in settings.CELERY_TASK_QUEUES}

    def queues(entry: str) -> set[str]:
        words = lines[entry].split()
        return set(words[words.index("--queues") + 1].split(","))

    assert queues("worker") == declared
    assert queues("monitors") == {"monitors"}
    assert "beat" in lines and "web" in lines
