"""What governance needs of the queue's models, offered through core's hooks (registered in
reviewapp/apps.py): governance imports nothing from the queue."""

from __future__ import annotations

from typing import Any

from reviewapp.core.audit import Actor, audit_record
from reviewapp.models import MLModel


def model_info_for_governance(*, model_slug: str) -> dict[str, Any] | None:
    """Hook ``governance.model_info``: the model's labels and criticality, None if unknown."""
    row = MLModel.objects.filter(slug=model_slug).values("labels", "criticality").first()
    return dict(row) if row else None


def model_infos_for_governance(*, model_slugs: list[str] | None) -> dict[str, dict[str, Any]]:
    """Hook ``governance.model_infos``: {slug: labels and criticality} of the registered
    models among ``model_slugs`` (None: every registered model, the propose page's picker),
    in one query."""
    models = (
        MLModel.objects.all()
        if model_slugs is None
        else MLModel.objects.filter(slug__in=model_slugs)
    )
    rows = models.order_by("slug").values("slug", "labels", "criticality")
    return {row.pop("slug"): row for row in rows}


def model_settings_apply(*, model_slug: str, document: dict[str, Any], actor: Actor) -> bool:
    """Hook ``governance.model_settings_applied``: an applied ``model_settings`` version sets
    the model's criticality and strict-output setting (absent: off); the business profile
    stays in the governed document. Runs in governance's apply transaction, so both commit or
    neither."""
    model = MLModel.objects.select_for_update().get(slug=model_slug)
    before = {"criticality": model.criticality, "strict_output": model.strict_output}
    after = {
        "criticality": document["criticality"],
        "strict_output": bool(document.get("strict_output", False)),
    }
    # Absent or null: payloads are kept forever (services/payloads.py). Named in the event
    # only when either side has a policy, as events before the setting existed read.
    retention = document.get("payload_retention_days")
    if retention is not None or model.payload_retention_days is not None:
        before["payload_retention_days"] = model.payload_retention_days
        after["payload_retention_days"] = retention
    if before != after:
        model.criticality = after["criticality"]
        model.strict_output = after["strict_output"]
        model.payload_retention_days = retention
        # save(), not update(): its post_save signal clears this process's ingest catalogue,
        # so a strict setting takes effect at once here (other processes within the cache time).
        model.save(update_fields=["criticality", "strict_output", "payload_retention_days"])
    audit_record(
        actor=actor,
        verb="queue.ml_model.settings_applied",
        target=model,
        before=before,
        after=after,
        data={"document": document},
    )
    return True


def visible_model_for_governance(*, principal: Any, slug: str) -> Any:
    """Hook ``governance.visible_model``: the model with that slug if ``principal`` may read
    its records (a reviewer: the models of their pools), None otherwise, the same answer for
    a model that does not exist."""
    from reviewapp.selectors.visibility import models_visible_to

    return models_visible_to(principal).filter(slug=slug).first()
