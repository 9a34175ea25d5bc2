"""Catalog pages. Each view checks the role, calls one service or selector, and renders."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from reviewapp.core import roles
from reviewapp.core.exceptions import RoleRequired, ServiceError
from reviewapp.core.params import int_or_none
from reviewapp.core.redirects import safe_next

from . import quality, selectors, services
from .charts import weekly_bars
from .filters import SORTS
from .forms import FailureModeForm, LinkMitigationForm, MitigationForm
from .models import SEVERITY_MEANINGS, FailureMode, Revision
from .transfer import catalog_export

can_view = roles.permission_required("catalog.view_failuremode")

# Translated when shown, not at import (the active language is the request's).
ACTION_COPY = {
    "submit": (
        gettext_lazy("Submit for review"),
        gettext_lazy("A catalog editor other than the author will review it."),
    ),
    "return": (
        gettext_lazy("Return to draft"),
        gettext_lazy("The entry goes back to its author as a draft."),
    ),
    "publish": (
        gettext_lazy("Publish"),
        gettext_lazy(
            "Everyone will see this entry as a reviewed reference, and reviewers can tag "
            "decisions with it. You are confirming you reviewed it."
        ),
    ),  # fmt: skip
    "deprecate": (
        gettext_lazy("Deprecate"),
        gettext_lazy(
            "The entry stays readable but is hidden from reviewers' tag picker and matching."
        ),
    ),
    "reopen": (
        gettext_lazy("Reopen for review"),
        gettext_lazy("The entry leaves published status until re-published."),
    ),
    "revive": (
        gettext_lazy("Revive as draft"),
        gettext_lazy("The deprecated entry becomes a draft again."),
    ),
}


def _fm_or_404(slug: str) -> FailureMode:
    fm = selectors.failure_mode_detail(slug=slug)
    if fm is None:
        raise Http404(_("No failure mode “%s”.") % slug)
    return fm


FACET_TITLES = [
    ("category", gettext_lazy("Category")),
    ("severity", gettext_lazy("Severity")),
    ("status", gettext_lazy("Status")),
    ("data_domain", gettext_lazy("Data domain")),
    ("model_family", gettext_lazy("Model family")),
    ("deployment", gettext_lazy("Deployment")),
    ("segment", gettext_lazy("Customer segment")),
    ("owner", gettext_lazy("Owner")),
]


@login_required
@can_view
def search(request: HttpRequest) -> HttpResponse:
    """The results first; the facet panel asks for its counts once the page is shown
    (``search_facets``): counting every facet over thousands of matches costs more than the
    results, and nobody should wait for it to see them."""
    result = selectors.catalog_search(params=request.GET, page_number=request.GET.get("page"))
    query = _without_page(request)
    context = {
        "result": result,
        "sorts": SORTS,
        "facet_titles": FACET_TITLES,
        "facets_url": f"{reverse('catalog:search-facets')}?{query}",
        "can_create": services.can_create(request.user),
        "query": query,
    }
    # A filter that does not validate (an unknown category, a severity nobody has) is named on
    # the page, and the answer says so: 400, not a silently unfiltered list.
    status = 400 if result.errors else 200
    return render(request, "catalog/search.html", {**context, "subnav": "search"}, status=status)


@login_required
@can_view
def search_facets(request: HttpRequest) -> HttpResponse:
    """The search page's facet panel (htmx partial) for the query and filters given."""
    facets = selectors.catalog_facets(params=request.GET)
    return render(request, "catalog/_facets.html", {"facets": facets, "facet_titles": FACET_TITLES})


def _without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@login_required
@can_view
def failure_mode_detail(request: HttpRequest, slug: str) -> HttpResponse:
    fm = _fm_or_404(slug)
    snapshot = services.failure_mode_snapshot(fm)
    series = selectors.failure_mode_occurrences(fm)
    revisions = list(selectors.revisions_for(kind="failure_mode", object_id=fm.pk)[:10])
    user = request.user
    pending = selectors.pending_revision_for(fm)
    return render(
        request,
        "catalog/failure_mode_detail.html",
        {
            "subnav": "search",
            "fm": fm,
            "snapshot": snapshot,
            "quality": selectors.failure_mode_quality(fm, snapshot),
            "series": series,
            "chart": weekly_bars(series.weeks),
            "revisions": revisions,
            "severity_meaning": SEVERITY_MEANINGS.get(fm.severity, ""),
            "can_edit": services.can_edit(user, fm),
            "actions": [(a, ACTION_COPY[a][0]) for a in services.allowed_actions(user, fm)],
            "can_mark_reviewed": user.pk in (fm.owner_id, fm.steward_id)
            or user.has_perm("catalog.change_failuremode"),
            "link_form": LinkMitigationForm() if services.can_edit(user, fm) else None,
            "author_is_me": fm.created_by_id == user.pk,
            "pending": pending,
            "pending_diffs": selectors.pending_revision_diff(pending) if pending else [],
            "pending_is_mine": pending is not None and pending.author_id == user.pk,
            "can_publish_revision": pending is not None
            and pending.author_id != user.pk
            and user.has_perm("catalog.publish_failuremode"),
        },
    )


_EDIT_REFUSED = gettext_lazy(
    "You may not edit this entry: editing is for catalog editors, and for its author while it is a draft."
)


@login_required
def failure_mode_create(request: HttpRequest) -> HttpResponse:
    if not services.can_create(request.user):
        raise RoleRequired(
            _("Drafting catalog entries is for engineers and catalog editors."),
            roles=(roles.ENGINEER, roles.CATALOG_EDITOR),
        )
    form = FailureModeForm(
        request.POST or None, initial={"owner": request.user.get_username(), "severity": "S3"}
    )
    if request.method == "POST" and form.is_valid():
        try:
            fm = services.failure_mode_create(
                user=request.user, data=form.to_data(), note=form.cleaned_data.get("note", "")
            )
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Draft saved. Submit it for review when it is ready."))
            return redirect("catalog:failure-mode", slug=fm.slug)
    similar = []
    if request.method == "POST":
        similar = selectors.failure_modes_similar(
            title=request.POST.get("title", ""), summary=request.POST.get("summary", "")
        )
    return render(
        request, "catalog/failure_mode_form.html", {"form": form, "fm": None, "similar": similar}
    )


@login_required
def failure_mode_edit(request: HttpRequest, slug: str) -> HttpResponse:
    fm = _fm_or_404(slug)
    if not services.can_edit(request.user, fm):
        raise RoleRequired(_EDIT_REFUSED, roles=(roles.ENGINEER, roles.CATALOG_EDITOR))
    snapshot = services.failure_mode_snapshot(fm)
    pending = selectors.pending_revision_for(fm)
    if pending is not None and pending.author_id == request.user.pk:
        # The author goes on from their own revision, not from the published text.
        snapshot = {**snapshot, **pending.changes}
    form = FailureModeForm(
        request.POST or None, initial=FailureModeForm.initial_from(snapshot, fm.version)
    )
    stale = None
    if request.method == "POST" and form.is_valid():
        try:
            fm = services.failure_mode_update(
                failure_mode=fm,
                user=request.user,
                data=form.to_data(),
                base_version=form.cleaned_data.get("base_version"),
                note=form.cleaned_data.get("note", ""),
            )
        except ServiceError as exc:
            if exc.status == 409:
                stale = exc.message
            form.add_service_errors(exc)
        else:
            _saved_message(request, fm)
            return redirect("catalog:failure-mode", slug=fm.slug)
    return render(
        request,
        "catalog/failure_mode_form.html",
        {"form": form, "fm": fm, "stale": stale, "pending": pending},
    )


def _saved_message(request: HttpRequest, fm: FailureMode) -> None:
    if getattr(fm, "proposed_revision", None) is not None:
        messages.success(
            request,
            _("Your change is waiting for another catalog editor to publish it. Until then "
              "everyone sees the published version."),
        )  # fmt: skip
    else:
        messages.success(request, _("Saved as version %s.") % fm.version)


@login_required
@require_POST
def revision_decide(request: HttpRequest, slug: str, pk: int, decision: str) -> HttpResponse:
    """Publish, reject or (its author) withdraw a pending revision of a published entry."""
    fm = _fm_or_404(slug)
    if not fm.pending_revisions.filter(pk=pk).exists():
        raise Http404
    note = request.POST.get("note", "")
    try:
        if decision == "publish":
            services.failure_mode_revision_publish(revision_id=pk, user=request.user, note=note)
            messages.success(request, _("Revision published."))
        else:
            rev = services.failure_mode_revision_reject(
                revision_id=pk, user=request.user, note=note
            )
            messages.success(request, rev.get_status_display())
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("catalog:failure-mode", slug=fm.slug)


@login_required
def duplicates(request: HttpRequest) -> HttpResponse:
    """htmx partial: possible duplicates of the title being typed."""
    if not services.can_create(request.user):
        raise RoleRequired(roles=(roles.ENGINEER, roles.CATALOG_EDITOR))
    similar = selectors.failure_modes_similar(
        title=request.GET.get("title", ""),
        summary=request.GET.get("summary", ""),
        exclude_pk=FailureMode.objects.filter(slug=request.GET.get("exclude", ""))
        .values_list("pk", flat=True)
        .first(),
    )
    return render(request, "catalog/_duplicates.html", {"similar": similar})


@login_required
def failure_mode_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    fm = _fm_or_404(slug)
    if action not in ACTION_COPY:
        raise Http404
    title, consequence = ACTION_COPY[action]
    error = None
    if request.method == "POST":
        try:
            services.failure_mode_transition(
                failure_mode=fm, user=request.user, action=action, note=request.POST.get("note", "")
            )
        except ServiceError as exc:
            error = exc
        else:
            messages.success(request, _("%(action)s: done for “%(title)s”.") % {
                "action": title, "title": fm.title})  # fmt: skip
            return redirect("catalog:failure-mode", slug=fm.slug)
    snapshot = services.failure_mode_snapshot(fm)
    allowed = action in services.allowed_actions(request.user, fm)
    # What the move needs and the entry lacks, named by label before the button is offered
    # (the service refuses it anyway, naming the same fields).
    missing = (
        selectors.missing_for_action(snapshot, services.FAILURE_MODE.target(action))
        if allowed
        else []
    )
    return render(
        request,
        "catalog/confirm_action.html",
        {
            "fm": fm,
            "action": action,
            "title": title,
            "consequence": consequence,
            "error": error,
            "error_rows": [
                (quality.FIELD_LABELS.get(field, field), msgs)
                for field, msgs in (error.errors.items() if error else [])
            ],
            "allowed": allowed,
            "missing": missing,
            "quality": selectors.failure_mode_quality(fm, snapshot),
        },
        status=error.status if error else 200,
    )


@login_required
@can_view
def failure_mode_history(request: HttpRequest, slug: str) -> HttpResponse:
    fm = _fm_or_404(slug)
    revisions = list(selectors.revisions_for(kind="failure_mode", object_id=fm.pk))
    return render(request, "catalog/history.html", {"fm": fm, "revisions": revisions})


def _revision(fm: FailureMode, number: int) -> Revision:
    rev = (
        selectors.revisions_for(kind="failure_mode", object_id=fm.pk).filter(number=number).first()
    )
    if rev is None:
        raise Http404(_("No version %s.") % number)
    return rev


@login_required
@can_view
def failure_mode_diff(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    fm = _fm_or_404(slug)
    newer = _revision(fm, number)
    against = request.GET.get("against")
    older_number = int_or_none(against, minimum=1)
    if older_number is None:
        older_number = number - 1
    older = (
        selectors.revisions_for(kind="failure_mode", object_id=fm.pk)
        .filter(number=older_number)
        .first()
    )
    diffs = selectors.revision_diff(older.snapshot if older else {}, newer.snapshot)
    return render(
        request,
        "catalog/diff.html",
        {
            "fm": fm,
            "newer": newer,
            "older": older,
            "diffs": diffs,
            "can_restore": services.can_edit(request.user, fm) and number != fm.version,
        },  # fmt: skip
    )


@login_required
def failure_mode_restore(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    fm = _fm_or_404(slug)
    rev = _revision(fm, number)
    if not services.can_edit(request.user, fm):
        raise RoleRequired(_EDIT_REFUSED, roles=(roles.ENGINEER, roles.CATALOG_EDITOR))
    error = None
    if request.method == "POST":
        try:
            fm = services.failure_mode_restore(failure_mode=fm, user=request.user, number=number)
        except ServiceError as exc:
            error = exc
        else:
            if getattr(fm, "proposed_revision", None) is not None:
                _saved_message(request, fm)
            else:
                messages.success(
                    request,
                    _("Version %(n)s restored as version %(v)s.") % {"n": number, "v": fm.version},
                )
            return redirect("catalog:failure-mode", slug=fm.slug)
    current = services.failure_mode_snapshot(fm)
    return render(
        request,
        "catalog/confirm_restore.html",
        {
            "fm": fm,
            "rev": rev,
            "error": error,
            "diffs": selectors.revision_diff(current, rev.snapshot),
        },  # fmt: skip
        status=error.status if error else 200,
    )


@login_required
@require_POST
def failure_mode_reviewed(request: HttpRequest, slug: str) -> HttpResponse:
    fm = _fm_or_404(slug)
    try:
        fm = services.failure_mode_mark_reviewed(failure_mode=fm, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Marked reviewed; next review due %s.") % fm.next_review_on)
    return redirect(
        safe_next(request, "next", default=reverse("catalog:failure-mode", args=[fm.slug]))
    )


@login_required
@require_POST
def failure_mode_link(request: HttpRequest, slug: str) -> HttpResponse:
    fm = _fm_or_404(slug)
    form = LinkMitigationForm(request.POST)
    if not form.is_valid():
        for field, errs in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errs)}")
    else:
        try:
            services.failure_mode_link_mitigation(
                failure_mode=fm,
                mitigation_slug=form.cleaned_data["mitigation"].slug,
                effectiveness=form.cleaned_data["effectiveness"],
                note=form.cleaned_data["note"],
                user=request.user,
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Mitigation linked."))
    return redirect("catalog:failure-mode", slug=fm.slug)


@login_required
@require_POST
def failure_mode_unlink(request: HttpRequest, slug: str, mitigation: str) -> HttpResponse:
    fm = _fm_or_404(slug)
    try:
        services.failure_mode_unlink_mitigation(
            failure_mode=fm, mitigation_slug=mitigation, user=request.user
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Mitigation unlinked."))
    return redirect("catalog:failure-mode", slug=fm.slug)


@login_required
@can_view
def stewardship(request: HttpRequest) -> HttpResponse:
    mine = request.GET.get("mine") == "1"
    overdue = selectors.stewardship_overdue(user=request.user if mine else None)
    return render(
        request,
        "catalog/stewardship.html",
        {
            "subnav": "stewardship",
            "failure_modes": list(overdue["failure_modes"][:200]),
            "mitigations": list(overdue["mitigations"][:200]),
            "mine": mine,
        },
    )


# --- Mitigations and case studies -----------------------------------------------------------
@login_required
@can_view
def mitigation_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "catalog/mitigation_list.html",
        {
            "subnav": "mitigations",
            "mitigations": list(selectors.mitigations_list()),
            "can_create": request.user.has_perm("catalog.add_mitigationtemplate"),
        },
    )


@login_required
@can_view
def mitigation_detail(request: HttpRequest, slug: str) -> HttpResponse:
    m = selectors.mitigation_detail(slug=slug)
    if m is None:
        raise Http404
    return render(
        request,
        "catalog/mitigation_detail.html",
        {
            "subnav": "mitigations",
            "m": m,
            "outcomes": selectors.mitigation_outcomes(m),
            "can_edit": request.user.has_perm("catalog.change_mitigationtemplate"),
            "revisions": list(selectors.revisions_for(kind="mitigation", object_id=m.pk)[:10]),
        },
    )


@login_required
def mitigation_form(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    m = None
    if slug:
        m = selectors.mitigation_detail(slug=slug)
        if m is None:
            raise Http404
        if not request.user.has_perm("catalog.change_mitigationtemplate"):
            raise RoleRequired(roles=(roles.CATALOG_EDITOR,))
        initial = MitigationForm.initial_from(services.mitigation_snapshot(m))
    else:
        if not request.user.has_perm("catalog.add_mitigationtemplate"):
            raise RoleRequired(roles=(roles.ENGINEER, roles.CATALOG_EDITOR))
        initial = {"owner": request.user.get_username()}
    form = MitigationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if m is None:
                m = services.mitigation_create(user=request.user, data=form.to_data())
            else:
                m = services.mitigation_update(mitigation=m, user=request.user, data=form.to_data())
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Mitigation saved."))
            return redirect("catalog:mitigation", slug=m.slug)
    return render(request, "catalog/mitigation_form.html", {"form": form, "m": m})


@login_required
@can_view
def case_study_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "catalog/case_study_list.html",
        {"case_studies": list(selectors.case_studies_list()), "subnav": "cases"},
    )


@login_required
@can_view
def case_study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    cs = selectors.case_study_detail(slug=slug)
    if cs is None:
        raise Http404
    return render(request, "catalog/case_study_detail.html", {"cs": cs, "subnav": "cases"})


@login_required
@roles.permission_required("catalog.change_failuremode")
def export(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(
        catalog_export(), json_dumps_params={"indent": 2, "ensure_ascii": False}
    )
    response["Content-Disposition"] = 'attachment; filename="failsafe-catalog.json"'
    return response
