"""Root-cause analysis: hypotheses about what caused an incident, each with the test that
checks it, the evidence, the result, a confidence (0–100) and a status (open, confirmed,
refuted). Anyone who runs the incident adds and edits them; an edit carries the version it
was made from (a stale one is a 409); confirming or refuting records who and when, and a
refutation says why (its result).

An incident is verified only with a confirmed hypothesis or a written reason why none is
(:func:`root_cause_guard`; the lifecycle stores the reason as ``no_root_cause_reason``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from reviewapp.core import clock
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import unstorable

from ..models import Hypothesis, Incident
from .selectors import may_run
from .services import record

MAX_STATEMENT = 2_000
MAX_TEXT = 20_000
TEXT_FIELDS = {"statement": MAX_STATEMENT, "test": MAX_TEXT, "evidence": MAX_TEXT,
               "result": MAX_TEXT}  # fmt: skip
EDITABLE = (*TEXT_FIELDS, "confidence")
STATUSES = tuple(Hypothesis.Status.values)


def hypotheses_of(incident: Incident) -> QuerySet[Hypothesis]:
    return incident.hypotheses.select_related("created_by", "decided_by").order_by(
        "created_at", "id"
    )


def _require_runner(actor: Any, incident: Incident) -> None:
    if not may_run(actor, incident):
        raise PermissionDenied(_("Only engineers, leads and this incident's commander run it."))


def _clean(fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name in sorted(set(fields) - set(EDITABLE)):
        errors[name] = [_("Not editable.")]
    for name, limit in TEXT_FIELDS.items():
        if name not in fields:
            continue
        value = fields[name]
        value = "" if value is None else value
        if not isinstance(value, str):
            errors[name] = [_("Must be text.")]
            continue
        value = value.strip()
        if unstorable(value):
            errors[name] = [_("Contains a NUL character or a broken surrogate.")]
        elif len(value) > limit:
            errors[name] = [_("At most %d characters.") % limit]
        elif name == "statement" and not value:
            errors[name] = [_("Say what might have caused the incident.")]
        else:
            clean[name] = value
    if creating and "statement" not in fields:
        errors["statement"] = [_("Say what might have caused the incident.")]
    if "confidence" in fields:
        value = fields["confidence"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            errors["confidence"] = [_("A whole number from 0 to 100.")]
        else:
            clean["confidence"] = value
    if errors:
        raise ServiceError(next(iter(errors.values()))[0], errors=errors)
    return clean


@transaction.atomic
def hypothesis_add(*, incident: Incident, actor: Any, **fields: Any) -> Hypothesis:
    """A new open hypothesis (statement required; test, evidence, result, confidence)."""
    _require_runner(actor, incident)
    clean = _clean(fields, creating=True)
    now = clock.now()
    hypothesis = Hypothesis.objects.create(
        incident=incident,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=now,
        updated_at=now,
        **clean,
    )
    record(
        incident,
        "playbooks.hypothesis.added",
        actor,
        target=hypothesis,
        after={k: clean[k] for k in sorted(clean)},
    )
    return hypothesis


def _locked(incident: Incident, pk: Any, base_version: Any) -> Hypothesis:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        pk = None
    row = (
        Hypothesis.objects.select_for_update().filter(pk=pk, incident=incident).first()
        if pk is not None
        else None
    )
    if row is None:
        raise NotFound(_("No such hypothesis on this incident."), field="hypothesis")
    if isinstance(base_version, bool) or not isinstance(base_version, int):
        raise ServiceError(
            _("Send the version you edited."), errors={"version": [_("Must be a whole number.")]}
        )
    if row.version != base_version:
        raise Conflict(
            _("Someone changed this hypothesis while you were looking at it. Reload to see it."),
            field="version",
            code="stale",
        )
    return row


@transaction.atomic
def hypothesis_edit(
    *, incident: Incident, actor: Any, hypothesis_id: Any, base_version: Any, **fields: Any
) -> Hypothesis:
    """Change its text or confidence (any status). 409 when ``base_version`` is stale."""
    _require_runner(actor, incident)
    row = _locked(incident, hypothesis_id, base_version)
    clean = _clean(fields, creating=False)
    changed = {k: v for k, v in clean.items() if getattr(row, k) != v}
    if not changed:
        return row
    before = {k: getattr(row, k) for k in changed}
    _save(row, changed)
    record(incident, "playbooks.hypothesis.edited", actor, target=row, before=before,
           after=changed)  # fmt: skip
    return row


@transaction.atomic
def hypothesis_decide(
    *,
    incident: Incident,
    actor: Any,
    hypothesis_id: Any,
    base_version: Any,
    status: str,
    result: Any = None,
) -> Hypothesis:
    """Confirm, refute or reopen it. Refuting needs a result (what the test showed); the
    result may be given with a confirmation too. Stamps who decided and when."""
    _require_runner(actor, incident)
    row = _locked(incident, hypothesis_id, base_version)
    if status not in STATUSES:
        raise ServiceError(
            _("Unknown status."),
            errors={"status": [_("Must be one of %s.") % ", ".join(STATUSES)]},
        )
    changes: dict[str, Any] = {}
    if result is not None:
        changes.update(_clean({"result": result}, creating=False))
    final_result = changes.get("result", row.result)
    if status == Hypothesis.Status.REFUTED and not final_result:
        raise ServiceError(
            _("Say what refuted it: write the result."),
            errors={"result": [_("Required to refute: what did the test show?")]},
        )
    if status == row.status and not changes:
        return row
    changes["status"] = status
    if status == Hypothesis.Status.OPEN:
        changes.update(decided_by=None, decided_at=None)
    else:
        changes.update(decided_by=actor if getattr(actor, "pk", None) else None,
                       decided_at=clock.now())  # fmt: skip
    before = {"status": row.status, "result": row.result}
    _save(row, changes)
    verb = {
        Hypothesis.Status.CONFIRMED: "playbooks.hypothesis.confirmed",
        Hypothesis.Status.REFUTED: "playbooks.hypothesis.refuted",
        Hypothesis.Status.OPEN: "playbooks.hypothesis.reopened",
    }[status]
    record(incident, verb, actor, target=row, before=before,
           after={"status": status, "result": row.result})  # fmt: skip
    return row


def _save(row: Hypothesis, changes: dict[str, Any]) -> None:
    now = clock.now()
    updated = Hypothesis.objects.filter(pk=row.pk, version=row.version).update(
        **changes, version=row.version + 1, updated_at=now
    )
    if updated != 1:  # held by select_for_update; a safety net on databases without it
        raise Conflict(
            _("The hypothesis changed meanwhile; reload."), field="version", code="stale"
        )
    for k, v in changes.items():
        setattr(row, k, v)
    row.version += 1
    row.updated_at = now


# -- the lifecycle guard --------------------------------------------------------------------


def root_cause_guard(*, event: str, incident: Incident, reason: str = "") -> dict | None:
    """ "verify" needs a confirmed hypothesis, or a written reason why there is none."""
    if event != "verify" or (reason or "").strip():
        return None
    if incident.hypotheses.filter(status=Hypothesis.Status.CONFIRMED).exists():
        return None
    return {
        "reason": [
            _(
                "No root cause is confirmed: confirm a hypothesis under “Root cause”, or write "
                "why the incident is verified without one."
            )
        ]
    }
