"""Every write of the playbooks app: one function per use case, transactional, audited.

An edit never changes a version: it inserts the next one and moves the playbook's pointer
with a conditional UPDATE on the version the editor started from (409 when someone else
saved first). Status changes (publish, retire, reinstate) go through core's state machine.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from catalog.models import SEVERITY_MEANINGS
from reviewapp.core import clock, state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import unstorable
from reviewapp.core.roles import ENGINEER, LEAD
from reviewapp.core.state import transition

from . import document as doc_rules
from .models import Playbook, PlaybookIndex, PlaybookVersion
from .selectors import known_monitors, may_publish, may_write

Status = Playbook.Status

PLAYBOOK = state.Machine(
    model=Playbook,
    events={
        "publish": transition(Status.DRAFT, Status.ACTIVE, "playbooks.playbook.published"),
        "retire": transition(Status.ACTIVE, Status.RETIRED, "playbooks.playbook.retired"),
        "reinstate": transition(Status.RETIRED, Status.ACTIVE, "playbooks.playbook.reinstated"),
    },
    # A status change never lands on a version its actor did not see.
    match=("version",),
)

DEFAULT_TEMPLATES = {
    "status_update": (
        "[{severity}] {model}: {failure_mode}\n\n"
        "Status: {status}. The model is {mode}.\n"
        "Impact so far: {impact_so_far}.\n"
        "Next update at {next_update_at}. Commander: {commander}."
    ),
    "stakeholder_notice": (
        "We are handling an incident on {model} ({severity}: {severity_meaning}).\n"
        "Impact so far: {impact_so_far}. The model is {mode} while we work on it.\n"
        "Next update at {next_update_at}."
    ),
    "resolution_notice": (
        "Resolved: {incident} on {model}.\n"
        "Impact: {impact_so_far}. The model is back in {mode} mode.\n"
        "A post-mortem follows; questions to {commander}."
    ),
}


def default_severities() -> dict[str, str]:
    return {str(k): str(v) for k, v in SEVERITY_MEANINGS.items()}


def _actor(actor: Any) -> Actor:
    return Actor.user(actor) if getattr(actor, "pk", None) else Actor.system("playbooks")


def _person(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def known_for(document: Any) -> doc_rules.Known:
    """What ``document`` may name: catalog entries (all but deprecated), monitors, and its
    owner if that person is an engineer or lead."""
    owner = document.get("owner") if isinstance(document, dict) else None
    owners: set[str] = set()
    if isinstance(owner, str) and owner:
        user_model = get_user_model()
        found = user_model.objects.filter(
            Q(groups__name__in=[ENGINEER, LEAD]) | Q(is_superuser=True),
            is_active=True,
            **{user_model.USERNAME_FIELD: owner},
        ).exists()
        if found:
            owners.add(owner)
    return doc_rules.Known(
        failure_modes={c.slug for c in catalog_selectors.failure_mode_choices()},
        monitors=set(known_monitors()),
        owners=owners,
    )


def playbook_validate(document: Any, note: str = "") -> dict[str, Any]:
    """The normalised document, or ServiceError (400) with every problem by field path."""
    clean, errors = doc_rules.validate(document, known_for(document))
    if unstorable(note) or len(note) > 300:
        errors.add("note", _("At most 300 characters, without NUL or broken surrogates."))
    if errors:
        first = next(iter(errors.values()))[0]
        raise ServiceError(_("The playbook has problems: %s") % first, errors=dict(errors))
    return clean


def sha256_of(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Paths of the playbook pages that a slug must not shadow.
RESERVED_SLUGS = {"new", "from-catalog"}


def _unique_slug(title: str) -> str:
    base = slugify(title)[:100] or "playbook"
    slug, n = base, 2
    while slug in RESERVED_SLUGS or Playbook.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _insert_version(
    *, playbook: Playbook, number: int, clean: dict[str, Any], actor: Any, note: str, source: dict
) -> PlaybookVersion:
    version = PlaybookVersion.objects.create(
        playbook=playbook,
        number=number,
        title=clean["title"],
        document=clean,
        sha256=sha256_of(clean),
        note=note,
        source=source,
        author=_person(actor),
    )
    PlaybookIndex.objects.bulk_create(
        [
            PlaybookIndex(version=version, kind="failure_mode", value=s)
            for s in clean["failure_modes"]
        ]
        + [
            PlaybookIndex(version=version, kind="monitor", value=m)
            for m in dict.fromkeys(t["monitor"] for t in clean["triggers"])
        ]
    )
    return version


@transaction.atomic
def playbook_create(
    *,
    actor: Any,
    document: Any,
    note: str = "",
    source: dict[str, str] | None = None,
    verb: str = "playbooks.playbook.created",
    check: bool = True,
) -> Playbook:
    """A new playbook (a draft) with its version 1."""
    if check and not may_write(actor):
        raise PermissionDenied(_("Only engineers and leads write playbooks."))
    clean = playbook_validate(document, note)
    now = clock.now()
    playbook = Playbook.objects.create(
        slug=_unique_slug(clean["title"]),
        created_by=_person(actor),
        created_at=now,
        updated_at=now,
        version=1,
    )
    version = _insert_version(
        playbook=playbook, number=1, clean=clean, actor=actor, note=note, source=source or {}
    )
    Playbook.objects.filter(pk=playbook.pk).update(current=version)
    playbook.current = version
    audit_record(
        actor=_actor(actor),
        verb=verb,
        target=playbook,
        after={"version": 1, "sha256": version.sha256, "status": playbook.status},
        data={"title": clean["title"], "source": source or {}, "note": note},
    )
    return playbook


@transaction.atomic
def playbook_revise(
    *, playbook: Playbook, actor: Any, document: Any, base_version: int, note: str = ""
) -> PlaybookVersion:
    """The next version of ``playbook``, from the version its editor started with."""
    if not may_write(actor):
        raise PermissionDenied(_("Only engineers and leads edit playbooks."))
    clean = playbook_validate(document, note)
    if base_version != playbook.version:
        raise Conflict(
            _("Someone saved version %(v)d while you edited version %(b)d: reload and redo.")
            % {"v": playbook.version, "b": base_version},
            field="base_version",
            code="stale",
        )
    current = playbook.current
    if current is not None and current.sha256 == sha256_of(clean):
        raise ServiceError(
            _("Nothing changed: version %d already says this.") % playbook.version,
            errors={"detail": [_("Nothing changed: no new version made.")]},
            code="unchanged",
        )
    number = base_version + 1
    now = clock.now()
    # Claim the next number first: a conditional UPDATE on the version the editor started
    # from (on PostgreSQL a concurrent save waits on the row lock, then matches nothing), so
    # the loser gets a 409 before it inserts anything, never a unique-constraint error.
    moved = Playbook.objects.filter(pk=playbook.pk, version=base_version).update(
        version=number, updated_at=now
    )
    if moved != 1:
        raise Conflict(
            _("Someone saved a new version meanwhile: reload and redo."),
            field="base_version",
            code="stale",
        )
    version = _insert_version(
        playbook=playbook, number=number, clean=clean, actor=actor, note=note, source={}
    )
    Playbook.objects.filter(pk=playbook.pk).update(current=version)
    before = {"version": base_version, "sha256": current.sha256 if current else None}
    playbook.current, playbook.version, playbook.updated_at = version, number, now
    audit_record(
        actor=_actor(actor),
        verb="playbooks.playbook.revised",
        target=playbook,
        before=before,
        after={"version": number, "sha256": version.sha256},
        data={"title": clean["title"], "note": note},
    )
    return version


def playbook_transition(
    *,
    playbook: Playbook,
    actor: Any,
    event: str,
    base_version: int | None = None,
    check: bool = True,
) -> Playbook:
    """Publish, retire or reinstate (``check=False``: the system's own, e.g. seed_demo)."""
    if check and not may_publish(actor):
        raise PermissionDenied(_("Only engineers and leads publish or retire playbooks."))
    if event not in PLAYBOOK.events:
        raise NotFound(_("No such action: %s.") % event)
    if base_version is not None and base_version != playbook.version:
        raise Conflict(
            _("The playbook has a newer version (%(v)d): read it before you %(event)s it.")
            % {"v": playbook.version, "event": event},
            code="stale",
        )
    with transaction.atomic():
        return state.apply(PLAYBOOK, instance=playbook, event=event, actor=_actor(actor))


# --- from the catalog -----------------------------------------------------------------------
# Which phase a mitigation's procedure belongs to, by the template's kind.
KIND_PHASE = {
    "detector": "evidence",
    "alert": "evidence",
    "containment": "containment",
    "fallback": "containment",
    "rollback": "remediation",
    "process": "remediation",
}


def _draft_step(
    key: str, phase: str, title: str, instructions: str, *, role: str = "participant"
) -> dict[str, Any]:
    """A draft step from a mitigation template (keys and titles cut to the document's limits)."""
    return {
        "key": key[:40].rstrip("-"),
        "phase": phase,
        "title": title[:200],
        "instructions": instructions,
        "role": role,
        "artifacts": [],
    }


def _draft_steps(mitigations: list[Any], failure_mode: Any | None) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [
        {
            "key": "confirm",
            "phase": "triage",
            "title": "Confirm the failure and set the severity",
            "instructions": (
                (failure_mode.detection_signals if failure_mode is not None else "")
                or "Check the alert and the model's fail-safe page; set the severity (S1–S4)."
            ),
            "role": "commander",
            "artifacts": [{"kind": "link", "label": "Alert or dashboard showing the failure"}],
        }
    ]
    by_phase: dict[str, list[dict[str, Any]]] = {p: [] for p in doc_rules.PHASES}
    for m in mitigations:
        phase = KIND_PHASE.get(m.kind, "remediation")
        source = f"From the mitigation template [{m.title}]({m.get_absolute_url()})."
        for n, item in enumerate(m.procedure_steps or [], start=1):
            by_phase[phase].append(_draft_step(f"{m.slug}-{n}", phase, str(item), source))
        if m.rollback_procedure:
            by_phase["remediation"].append(
                _draft_step(
                    f"{m.slug}-rollback",
                    "remediation",
                    f"Roll back: {m.title}",
                    m.rollback_procedure,
                    role="commander",
                )
            )
        if m.fallback_plan:
            by_phase["containment"].append(
                _draft_step(
                    f"{m.slug}-fallback",
                    "containment",
                    f"Fallback: {m.title}",
                    m.fallback_plan,
                    role="commander",
                )
            )
    for phase in doc_rules.PHASES:
        steps.extend(by_phase[phase])
    steps.append({
        "key": "verify",
        "phase": "verification",
        "title": "Verify the model is healthy again",
        "instructions": "The alert's metric is back inside its bound for the resolve time.",
        "role": "commander",
        "artifacts": [{"kind": "number", "label": "The metric after the fix"}],
    })  # fmt: skip
    steps.append({
        "key": "status-update",
        "phase": "communication",
        "title": "Send status updates until resolved",
        "instructions": "Send the **status update** template to the incident channel.",
        "role": "liaison",
        "artifacts": [{"kind": "link", "label": "The message in the channel"}],
    })  # fmt: skip
    seen: set[str] = set()
    for step in steps:  # keys unique even if two templates share a prefix
        key, n = step["key"], 2
        while key in seen:
            key, n = f"{step['key'][:36]}-{n}", n + 1
        step["key"] = key
        seen.add(key)
    return steps


def playbook_draft_from_catalog(
    *, actor: Any, failure_mode_slug: str = "", mitigation_slug: str = ""
) -> Playbook:
    """One click on a catalog entry: a draft playbook from its mitigation template(s), linked
    to the failure mode(s) it handles, with default severities and templates; the engineer
    edits it from there."""
    if not may_write(actor):
        raise PermissionDenied(_("Only engineers and leads draft playbooks."))
    failure_mode = None
    if mitigation_slug:
        m = catalog_selectors.mitigation_detail(slug=mitigation_slug)
        if m is None:
            raise NotFound(_("No mitigation template “%s”.") % mitigation_slug)
        mitigations = [m]
        modes = [link.failure_mode for link in m.links.all()]
        title = f"Playbook: {m.title}"
        source = {"mitigation": m.slug}
    else:
        failure_mode = catalog_selectors.failure_mode_detail(slug=failure_mode_slug)
        if failure_mode is None:
            raise NotFound(_("No failure mode “%s”.") % failure_mode_slug)
        mitigations = [link.mitigation for link in failure_mode.links.all()]
        modes = [failure_mode]
        title = f"Playbook: {failure_mode.title}"
        source = {"failure_mode": failure_mode.slug}
    usable = {c.slug for c in catalog_selectors.failure_mode_choices()}
    document = {
        "title": title[:200],
        "summary": (failure_mode.summary if failure_mode is not None else mitigations[0].summary)[
            :2000
        ],
        "owner": actor.get_username(),
        "failure_modes": [fm.slug for fm in modes if fm.slug in usable],
        "triggers": [],
        "severities": default_severities(),
        "steps": _draft_steps(mitigations, failure_mode),
        "templates": dict(DEFAULT_TEMPLATES),
    }
    return playbook_create(
        actor=actor,
        document=document,
        note=_("Drafted from the catalog"),
        source=source,
        verb="playbooks.playbook.drafted",
    )
