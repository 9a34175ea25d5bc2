"""The change-request pages: committee home, list, request page with its actions, propose and
edit. Thin: every read is a selector, every write one service call; a service's 403 is the
403 page, its 404 a 404, anything else (bad input, a conflict) re-renders the page with the
message next to the action and the HTTP status the service chose."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core import clock, roles
from reviewapp.core.exceptions import RoleRequired, ServiceError
from reviewapp.core.selectors import audit_events

from .. import selectors, services
from ..describe import path_label
from ..forms import (
    ApproveForm,
    ChangeRequestForm,
    CommentForm,
    ListFilterForm,
    PickForm,
    ReasonForm,
    first_version_start,
    flatten,
)
from ..models import ChangeRequest, DocumentKind
from ..services import documents
from ..services.change_requests import EDITABLE
from ..templatetags.governance_tags import shadow_left

S = ChangeRequest.Status
READERS = (roles.COMMITTEE, roles.LEAD, roles.ENGINEER)
PROPOSERS = (roles.ENGINEER, roles.LEAD)
TIMELINE_LIMIT = 200


def _require(request: HttpRequest, *allowed: str) -> None:
    roles.require(request.user, *allowed)


def _request_or_404(pk: int) -> ChangeRequest:
    cr = selectors.change_request_get(pk)
    if cr is None:
        raise Http404(_("No such change request."))
    return cr


def _require_reader(request: HttpRequest, cr: ChangeRequest | None = None) -> None:
    """Committee, leads and engineers read every request; a named approver group's members
    read their model's."""
    if roles.has_role(request.user, *READERS):
        return
    if cr is not None and selectors.may_vote(request.user, cr.model_slug):
        return
    raise RoleRequired(roles=READERS)


# --- committee home and list ---------------------------------------------------------------
@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    user = request.user
    committee, own_groups = selectors.voter_scope(user)
    votes = committee or bool(own_groups)
    now = clock.now()
    emergencies = list(selectors.emergency_rollbacks_awaiting_ratification())
    for cr in emergencies:
        cr.overdue = bool(cr.ratification_due and cr.ratification_due <= now)
    watch = list(selectors.change_requests_stale_or_scheduled()[:50])
    context: dict[str, Any] = {
        "votes": votes,
        "proposes": roles.has_role(user, *PROPOSERS),
        "waiting": list(selectors.change_requests_awaiting_vote(user)[:50]) if votes else [],
        "watch": watch,
        "emergencies": emergencies,
        "applied": selectors.change_requests_recently_applied(),
        "mine": list(selectors.change_requests().filter(proposer=user)[:20]),
        "open_count": selectors.change_requests().filter(status__in=ChangeRequest.OPEN).count(),
        "now": now,
    }
    return render(request, "governance/home.html", context)


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    form = ListFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "governance/list.html", {"form": form, "page": None}, status=400)
    filters = {
        "model_slug": form.cleaned_data["model"] or None,
        "status": form.cleaned_data["status"] or None,
        "kind": form.cleaned_data["kind"] or None,
    }
    page = Paginator(selectors.change_requests(**filters), 50).get_page(
        form.cleaned_data.get("page")
    )
    counts = selectors.status_counts(**filters)
    statuses = [(value, label, counts.get(value, 0)) for value, label in S.choices]
    return render(
        request,
        "governance/list.html",
        {
            "form": form,
            "page": page,
            "statuses": statuses,
            "total": sum(counts.values()),
            "filters": filters,
            "models": selectors.governed_model_slugs(),
            "kinds": DocumentKind.choices,
            "proposes": roles.has_role(request.user, *PROPOSERS),
            "query": _query_without_page(request),
        },
    )


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# --- the request page ------------------------------------------------------------------------
def _diff(cr: ChangeRequest) -> tuple[list[dict[str, Any]], Any]:
    """Rows (path, base value, proposed value, changed) against the request's base version."""
    base = (
        documents.version_of(model_slug=cr.model_slug, kind=cr.kind, version=cr.base_version)
        if cr.base_version is not None
        else None
    )
    before = flatten(base.document) if base else {}
    after = flatten(cr.document)
    rows = []
    for path in dict.fromkeys([*before, *after]):
        old, new = before.get(path, _MISSING), after.get(path, _MISSING)
        row = {
            "path": path,
            "current": _shown(old),
            "proposed": _shown(new),
            "changed": old != new,
        }
        if cr.kind == DocumentKind.REVIEW_QUALITY:
            # labels: a review-quality setting in words beside its key (other kinds unchanged).
            row["label"] = path_label(path)
        rows.append(row)
    rows.sort(key=lambda r: not r["changed"])  # what changes first, the rest below
    return rows, base


_MISSING: Any = object()


def _shown(value: Any) -> str:
    if value is _MISSING:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _lapse_reason(vote: Any, cr: ChangeRequest) -> str:
    if vote.revision != cr.revision:
        return _("the request was edited or rebased after this vote")
    if vote.evidence_hash != cr.evidence_hash:
        return _("the evidence changed after this vote")
    return _("the request went stale")


def _page_context(request: HttpRequest, cr: ChangeRequest) -> dict[str, Any]:
    user = request.user
    is_proposer = cr.proposer_id is not None and cr.proposer_id == user.pk
    may_vote = selectors.may_vote(user, cr.model_slug)
    quorum = selectors.quorum(cr)
    votes = selectors.change_request_votes(cr)
    for vote in votes:
        vote.live = (
            vote.lapsed_at is None
            and vote.revision == cr.revision
            and vote.evidence_hash == cr.evidence_hash
        )
        vote.why_lapsed = "" if vote.live else _lapse_reason(vote, cr)
    summary = cr.evidence_summary or {}
    evidence = summary.get("evidence") if cr.evidence_state == "ready" else None
    diff, base = _diff(cr)
    evidence_days = []
    if evidence:
        breaches = evidence.get("capacity", {}).get("sla_breaches", {}).get("proposal_per_day", [])
        for i, row in enumerate(evidence.get("impact", {}).get("per_day", [])):
            evidence_days.append(
                {
                    **row,
                    "change": row["proposal"] - row["active"],
                    "breaches": breaches[i] if i < len(breaches) else None,
                }
            )
    voted = any(v.live and v.user_id == user.pk for v in votes)
    in_review = cr.status == S.IN_REVIEW and not cr.stale
    blocked = ""
    if in_review and cr.evidence_state != "ready":
        blocked = _("Votes open when the evidence is ready.")
    elif in_review and summary.get("replay_mismatches"):
        blocked = _(
            "The replay of the active version does not reproduce %(n)s recorded decisions: "
            "approval is blocked until that is explained."
        ) % {"n": summary["replay_mismatches"]}
    follow_up_of = (
        ChangeRequest.objects.filter(follow_up=cr).only("id", "ratified_at").first()
        if cr.status in ChangeRequest.OPEN
        else None
    )
    now = clock.now()
    # An emergency rollback and the system's bootstrap of a first version apply without a
    # vote (and so without evidence); the page says so rather than "0 of 2 approvals".
    no_vote = cr.is_emergency or (cr.proposer_id is None and cr.base_version is None)
    shadow = None
    if cr.shadow_started_at is not None:
        shadow = selectors.shadow_summary(cr)
        shadow["left"] = shadow_left(cr)
        shadow["change"] = shadow["would_route"] - shadow["routed"]
    timeline = list(
        audit_events(target_type=ChangeRequest._meta.label_lower, target_id=str(cr.pk))
        .select_related(None)
        .order_by("id")[:TIMELINE_LIMIT]
    )
    return {
        "cr": cr,
        "base": base,
        "active": documents.active_version(model_slug=cr.model_slug, kind=cr.kind)
        if cr.stale
        else None,
        "diff": diff,
        "changed_count": sum(1 for r in diff if r["changed"]),
        "changed_rows": [r for r in diff if r["changed"]],
        "unchanged_rows": [r for r in diff if not r["changed"]],
        "shadow": shadow,
        # An emergency rollback names the request whose version it replaced.
        "replaced_request": selectors.version_request_id(cr.model_slug, cr.kind, cr.base_version)
        if cr.is_emergency
        else None,
        "triggers": selectors.rollback_trigger_states(cr),
        "evidence": evidence,
        # Days without routed traffic under either version would bury the ones that matter.
        "evidence_days": [d for d in evidence_days if d["active"] or d["proposal"]],
        "quiet_days": sum(1 for d in evidence_days if not (d["active"] or d["proposal"])),
        "summary": summary,
        "quorum": quorum,
        "votes": votes,
        "comments": list(cr.comments.all()),
        "timeline": timeline,
        "is_proposer": is_proposer,
        "may_vote": may_vote,
        "can_vote": may_vote and not is_proposer and in_review and not voted and not blocked,
        "voted": voted,
        "vote_blocked": blocked if may_vote and not is_proposer else "",
        "can_decide": may_vote and not is_proposer and cr.status == S.IN_REVIEW,
        "can_edit": is_proposer and cr.status in EDITABLE,
        "can_submit": is_proposer and cr.status == S.DRAFT,
        "can_resubmit": is_proposer and cr.status == S.CHANGES_REQUESTED,
        "can_withdraw": is_proposer and cr.is_open and not cr.is_emergency and not follow_up_of,
        "can_rebase": is_proposer and cr.stale and cr.is_open,
        "can_ratify": cr.is_emergency and cr.ratified_at is None and may_vote and not is_proposer,
        "can_comment": roles.has_role(user, *PROPOSERS) or may_vote,
        "no_vote": no_vote,
        # An open request that went to the vote, and an emergency rollback (its evidence is
        # computed after it applied, for the ratification), get evidence: nothing else does.
        "polling": cr.evidence_state in ("pending", "running")
        and (
            (cr.status != S.DRAFT and cr.is_open and not no_vote)
            or (cr.is_emergency and cr.ratified_at is None)
        ),
        "approve_form": ApproveForm(initial={"evidence_hash": cr.evidence_hash}),
        "comment_form": CommentForm(),
        "reason_form": ReasonForm(),
        "now": now,
        "errors": {},
    }


@login_required
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    cr = _request_or_404(pk)
    _require_reader(request, cr)
    return render(request, "governance/request.html", _page_context(request, cr))


@login_required
@require_GET
def request_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    """The evidence section alone, for the page's poll while it is computed. Once ready (or
    failed) the whole page reloads, so the approve form carries the new evidence hash."""
    cr = _request_or_404(pk)
    _require_reader(request, cr)
    if cr.evidence_state in ("ready", "failed") and request.htmx:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "governance/_evidence.html", _page_context(request, cr))


def _action_failed(
    request: HttpRequest, pk: int, action: str, exc: ServiceError, form: Any = None
) -> HttpResponse:
    if exc.status == 403:
        raise DjangoPermissionDenied(exc.message)
    if exc.status == 404:
        raise Http404(exc.message)
    cr = _request_or_404(pk)
    context = _page_context(request, cr)
    context["errors"] = {
        action.replace("-", "_"): [
            f"{field}: {m}" if field not in ("detail", "evidence_hash") else m
            for field, msgs in exc.errors.items()
            for m in msgs
        ]
    }
    if form is not None:
        context[f"{action}_form"] = form
    return render(request, "governance/request.html", context, status=exc.status)


def _invalid(request: HttpRequest, pk: int, action: str, form: Any) -> HttpResponse:
    errors = {f: [str(m) for m in msgs] for f, msgs in form.errors.items()}
    return _action_failed(
        request, pk, action, ServiceError(_("Check the form."), errors=errors), form
    )


def _done(request: HttpRequest, cr: ChangeRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("governance:request", pk=cr.pk)


@login_required
@require_POST
def request_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """submit, resubmit, withdraw, rebase, reject, request-changes, ratify, comment."""
    user = request.user
    _require_reader(request, _request_or_404(pk))
    simple = {
        "submit": (services.change_request_submit, _("Submitted: the committee is notified.")),
        "resubmit": (services.change_request_resubmit, _("Resubmitted for review.")),
        "withdraw": (services.change_request_withdraw, _("Withdrawn.")),
        "rebase": (
            services.change_request_rebase,
            _("Rebased on the active version: votes lapsed, the evidence is computed again."),
        ),
    }
    try:
        if action in simple:
            service, message = simple[action]
            return _done(request, service(change_request_id=pk, user=user), message)
        if action == "comment":
            form = CommentForm(request.POST)
            if not form.is_valid():
                return _invalid(request, pk, action, form)
            services.change_request_comment(
                change_request_id=pk, user=user, body=form.cleaned_data["body"]
            )
            return _done(request, _request_or_404(pk), _("Comment added."))
        form = ReasonForm(request.POST)
        if not form.is_valid():
            return _invalid(request, pk, action, form)
        comment = form.cleaned_data["comment"]
        if action == "reject":
            cr = services.change_request_reject(change_request_id=pk, user=user, comment=comment)
            return _done(request, cr, _("Rejected."))
        if action == "request-changes":
            cr = services.change_request_request_changes(
                change_request_id=pk, user=user, comment=comment
            )
            return _done(request, cr, _("Changes requested: the proposer is notified."))
        if action == "ratify":
            cr = services.change_request_ratify(change_request_id=pk, user=user, comment=comment)
            return _done(request, cr, _("Emergency rollback ratified."))
    except ServiceError as exc:
        return _action_failed(request, pk, action, exc)
    raise Http404


@login_required
@require_POST
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    _require_reader(request, _request_or_404(pk))
    form = ApproveForm(request.POST)
    if not form.is_valid():
        return _invalid(request, pk, "approve", form)
    try:
        cr = services.change_request_approve(
            change_request_id=pk,
            user=request.user,
            evidence_hash=form.cleaned_data["evidence_hash"],
            comment=form.cleaned_data["comment"],
            acknowledge_risk=form.cleaned_data["acknowledge_risk"],
        )
    except ServiceError as exc:
        return _action_failed(request, pk, "approve", exc)
    if cr.status == S.APPLIED:
        message = _("Approved: quorum reached, applied as v%(v)s.") % {"v": cr.applied_version}
    elif cr.status == S.SCHEDULED:
        message = _("Approved: quorum reached, scheduled.")
    elif cr.status in (S.APPROVED, S.SHADOW):
        message = _("Approved: quorum reached.")
    else:
        message = _("Your approval is recorded.")
    return _done(request, cr, message)


# --- propose and edit ------------------------------------------------------------------------
def _form_context(form: ChangeRequestForm, **extra: Any) -> dict[str, Any]:
    rows = form.rule_rows()
    return {"form": form, "rows": rows, **extra}


def _options(form: ChangeRequestForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "scheduled_for": data.get("scheduled_for"),
        "rollback_triggers": data.get("rollback_triggers") or [],
        "shadow_minutes": data.get("shadow_minutes"),
    }


@login_required
def propose(request: HttpRequest) -> HttpResponse:
    _require(request, *PROPOSERS)
    slugs = selectors.proposable_model_slugs()
    slug = request.GET.get("model") or ""
    kind = request.GET.get("kind") or DocumentKind.ROUTING_POLICY
    pick = PickForm({"model": slug, "kind": kind} if slug else None, models=slugs)
    if kind not in DocumentKind.values:
        return render(request, "governance/pick.html", {"pick": PickForm(
            {"model": slug, "kind": kind}, models=slugs)}, status=400)  # fmt: skip
    if not slug:
        return render(request, "governance/pick.html", {"pick": pick})
    try:
        info = documents.model_info(slug)
    except ServiceError as exc:
        raise Http404(exc.message) from exc
    active = documents.active_version(model_slug=slug, kind=kind)
    form = ChangeRequestForm(
        request.POST or None,
        kind=kind,
        active=active.document if active else None,
        proposed=active.document if active else first_version_start(kind, info),
        labels=list(info.get("labels") or []),
    )
    status = 200
    if request.method == "POST":
        if form.is_valid() and form.cleaned_data.get("document") is not None:
            try:
                cr = services.change_request_create(
                    model_slug=slug,
                    kind=kind,
                    user=request.user,
                    document=form.cleaned_data["document"],
                    rationale=form.cleaned_data["rationale"],
                    **_options(form),
                )
                if "submit" in request.POST:
                    services.change_request_submit(change_request_id=cr.pk, user=request.user)
                    return _done(request, cr, _("Submitted: the committee is notified."))
                return _done(request, cr, _("Saved as a draft. Submit it when it is ready."))
            except ServiceError as exc:
                if exc.status == 403:
                    raise DjangoPermissionDenied(exc.message) from exc
                form.add_service_errors(exc)
        status = 400
    return render(
        request,
        "governance/form.html",
        _form_context(form, pick=pick, model_slug=slug, kind=kind, active=active, cr=None),
        status=status,
    )


@login_required
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    cr = _request_or_404(pk)
    _require(request, *PROPOSERS)
    if cr.proposer_id != request.user.pk:
        raise DjangoPermissionDenied(_("Only the proposer edits a change request."))
    if cr.status not in EDITABLE:
        messages.error(request, _("Only a draft or a request in review can be edited."))
        return redirect("governance:request", pk=cr.pk)
    info = documents.model_info(cr.model_slug)
    active = documents.active_version(model_slug=cr.model_slug, kind=cr.kind)
    form = ChangeRequestForm(
        request.POST or None,
        initial=ChangeRequestForm.initial_from(cr),
        kind=cr.kind,
        active=active.document if active else {},
        proposed=cr.document,
        labels=list(info.get("labels") or []),
    )
    status = 200
    if request.method == "POST":
        if form.is_valid() and form.cleaned_data.get("document") is not None:
            options = _options(form)
            if options["scheduled_for"] == cr.scheduled_for:
                options.pop("scheduled_for")  # unchanged (and maybe past): not re-checked
            try:
                cr = services.change_request_edit(
                    change_request_id=cr.pk,
                    user=request.user,
                    document=form.cleaned_data["document"],
                    rationale=form.cleaned_data["rationale"],
                    **options,
                )
                if "submit" in request.POST and cr.status == S.DRAFT:
                    services.change_request_submit(change_request_id=cr.pk, user=request.user)
                    return _done(request, cr, _("Submitted: the committee is notified."))
                return _done(request, cr, _("Saved."))
            except ServiceError as exc:
                if exc.status == 403:
                    raise DjangoPermissionDenied(exc.message) from exc
                if exc.status == 409:
                    form.add_error(None, exc.message)
                else:
                    form.add_service_errors(exc)
        status = 400
    return render(
        request,
        "governance/form.html",
        _form_context(
            form, model_slug=cr.model_slug, kind=cr.kind, active=active, cr=cr, pick=None
        ),
        status=status,
    )


def propose_url(model_slug: str, kind: str = DocumentKind.ROUTING_POLICY) -> str:
    return f"{reverse('governance:propose')}?model={model_slug}&kind={kind}"
