"""Reads of the playbooks app: who may do what, the list with its filters, a playbook and its
versions, and the diff between two versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils.safestring import mark_safe

from reviewapp.core.params import ParamError, unstorable
from reviewapp.core.textdiff import mark_changed_words
from reviewapp.failsafe.monitors import DEFAULT_MONITORS
from reviewapp.governance.models import DocumentKind, DocumentVersion

from . import conditions, messages
from . import document as doc_rules
from .models import Playbook, PlaybookIndex, PlaybookVersion


def text_param(params: Any, name: str, max_length: int = 200) -> str:
    """A query parameter as text, or ParamError (400) naming it when it cannot be stored or
    searched (a NUL character)."""
    value = str(params.get(name, "") or "").strip()
    if unstorable(value):
        raise ParamError(name, "Contains a NUL character or a broken surrogate.")
    if len(value) > max_length:
        raise ParamError(name, f"At most {max_length} characters.")
    return value


def may_read(user: Any) -> bool:
    return bool(user and user.has_perm("playbooks.view_playbook"))


def may_write(user: Any) -> bool:
    return bool(user and user.has_perm("playbooks.change_playbook"))


def may_publish(user: Any) -> bool:
    return bool(user and user.has_perm("playbooks.publish_playbook"))


def known_monitors() -> list[str]:
    """Every monitor name a trigger may name: the defaults and any model's monitors document
    (any version: a playbook may name a monitor one model has since dropped)."""
    names = {m["name"] for m in DEFAULT_MONITORS}
    for document in DocumentVersion.objects.filter(kind=DocumentKind.MONITORS).values_list(
        "document", flat=True
    ):
        for monitor in (document or {}).get("monitors") or []:
            if isinstance(monitor, dict) and isinstance(monitor.get("name"), str):
                names.add(monitor["name"])
    return sorted(names)


def playbooks_list(
    *, q: str = "", failure_mode: str = "", monitor: str = "", status: str = ""
) -> QuerySet[Playbook]:
    qs = Playbook.objects.select_related("current", "current__author").order_by(
        "current__title", "pk"
    )
    if q:
        qs = qs.filter(Q(current__title__icontains=q) | Q(slug__icontains=q))
    if failure_mode:
        qs = qs.filter(current__index__kind="failure_mode", current__index__value=failure_mode)
    if monitor:
        qs = qs.filter(current__index__kind="monitor", current__index__value=monitor)
    if status:
        qs = qs.filter(status=status)
    return qs.distinct()


def filter_counts(kind: str) -> list[tuple[str, int]]:
    """[(value, playbooks whose current version names it)] for a filter's labels."""
    rows = (
        PlaybookIndex.objects.filter(kind=kind, version__playbook__current=F("version"))
        .values("value")
        .annotate(n=Count("version__playbook", distinct=True))
        .order_by("value")
    )
    return [(r["value"], r["n"]) for r in rows]


def status_counts() -> list[tuple[str, str, int]]:
    counts = dict(Playbook.objects.values_list("status").annotate(n=Count("pk")))
    return [(v, label, counts.get(v, 0)) for v, label in Playbook.Status.choices]


def playbook_detail(*, slug: str) -> Playbook | None:
    return (
        Playbook.objects.select_related("current", "current__author", "created_by")
        .filter(slug=slug)
        .first()
    )


def playbook_versions(playbook: Playbook) -> QuerySet[PlaybookVersion]:
    return (
        PlaybookVersion.objects.filter(playbook=playbook)
        .select_related("author")
        .only("playbook_id", "number", "title", "sha256", "note", "author", "created_at", "source")
        .order_by("-number")
    )


def playbook_version(playbook: Playbook, number: int) -> PlaybookVersion | None:
    return (
        PlaybookVersion.objects.filter(playbook=playbook, number=number)
        .select_related("author")
        .first()
    )


# --- presenting a version ---------------------------------------------------------------------
def step_view(steps: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """The steps by phase, each with its number, its condition in words and its branches'
    target numbers and titles (for the page's arrows)."""
    numbers = {s["key"]: n for n, s in enumerate(steps, start=1)}
    titles = {s["key"]: s["title"] for s in steps}
    out = []
    for phase, group in doc_rules.by_phase(steps):
        rows = []
        for step in group:
            rows.append({
                **step,
                "condition_words": conditions.in_words(step.get("condition", "")),
                "role_label": doc_rules.STEP_ROLES.get(step["role"], step["role"]),
                "kind_label": doc_rules.STEP_KINDS.get(step["kind"], step["kind"]),
                "escalate_label": doc_rules.STEP_ROLES.get(step.get("escalate_to") or "", ""),
                "branches_view": [
                    {**b, "number": numbers.get(b["target"]), "title": titles.get(b["target"])}
                    for b in step.get("branches", [])
                ],
                "artifacts_view": [
                    {**a, "kind_label": doc_rules.ARTIFACT_KINDS.get(a["kind"], a["kind"])}
                    for a in step.get("artifacts", [])
                ],
                "is_last": step["number"] == len(steps) and not step.get("next"),
                "next_number": numbers.get(step.get("next") or ""),
                "next_title": titles.get(step.get("next") or ""),
            })  # fmt: skip
        out.append((phase, doc_rules.PHASE_LABELS[phase], rows))
    return out


SAMPLE_VALUES = {
    "model": "card-fraud",
    "severity": "S2",
    "impact_so_far": "1,240 predictions auto-accepted while out of band",
    "mode": "contained",
    "next_update_at": "14:30 UTC",
    "failure_mode": "Currency mix drift after a new market launch",
    "incident": "#12",
    "commander": "sam",
    "status": "contained",
    "started_at": "13:05 UTC",
}


def template_previews(document: dict[str, Any], playbook_title: str) -> list[dict[str, str]]:
    """Each communication template as written and filled with sample values."""
    values = {
        **SAMPLE_VALUES,
        "severity_meaning": document.get("severities", {}).get("S2", ""),
        "playbook": playbook_title,
    }
    out = []
    for kind, label in messages.KINDS.items():
        text = document.get("templates", {}).get(kind, "")
        try:
            preview = messages.render(text, values)
        except messages.TemplateError:
            preview = text
        out.append({"kind": kind, "label": label, "text": text, "preview": preview})
    return out


# --- diff ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    where: str  # "Title", "Step 3 · Check the input contract: condition", …
    before: str
    after: str

    @property
    def marked(self) -> tuple[str, str]:
        return marked(self.before, self.after)


def _fmt(value: Any) -> str:
    if value in (None, "", [], {}):
        return "—"
    if isinstance(value, list):
        return "; ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def marked(before: str, after: str) -> tuple[str, str]:
    """Both texts as HTML with the words that differ marked (``<del>`` in the old one,
    ``<ins>`` in the new), so a one-sentence edit in a long instruction stands out."""
    left, right, _shared = mark_changed_words(before, after)
    return mark_safe(left), mark_safe(right)  # noqa: S308 - escaped by mark_changed_words


def version_diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """What changed from ``old`` to ``new``, field by field; steps matched by key."""
    out: list[Change] = []
    for key, label in (("title", "Title"), ("summary", "Summary"), ("owner", "Owner"),
                       ("failure_modes", "Failure modes"), ("triggers", "Triggers")):  # fmt: skip
        if old.get(key) != new.get(key):
            out.append(Change(label, _fmt(old.get(key)), _fmt(new.get(key))))
    for sev in doc_rules.SEVERITIES:
        a, b = old.get("severities", {}).get(sev), new.get("severities", {}).get(sev)
        if a != b:
            out.append(Change(f"Severity {sev}", _fmt(a), _fmt(b)))
    old_steps = {s["key"]: (n, s) for n, s in enumerate(old.get("steps", []), start=1)}
    new_steps = {s["key"]: (n, s) for n, s in enumerate(new.get("steps", []), start=1)}
    for key, (n, step) in new_steps.items():
        if key not in old_steps:
            out.append(Change(f"Step {n} · {step['title']}", "—", "added"))
            continue
        m, before = old_steps[key]
        if m != n:
            out.append(Change(f"Step “{step['title']}”: position", str(m), str(n)))
        for field in doc_rules.STEP_KEYS:
            if field != "key" and before.get(field) != step.get(field):
                out.append(
                    Change(
                        f"Step {n} · {step['title']}: {field}",
                        _fmt(before.get(field)),
                        _fmt(step.get(field)),
                    )  # fmt: skip
                )
    for key, (m, step) in old_steps.items():
        if key not in new_steps:
            out.append(Change(f"Step {m} · {step['title']}", "present", "removed"))
    for kind, label in messages.KINDS.items():
        a, b = old.get("templates", {}).get(kind), new.get("templates", {}).get(kind)
        if a != b:
            out.append(Change(label, _fmt(a), _fmt(b)))
    return out
