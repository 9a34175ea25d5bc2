from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("", views.search, name="search"),
    path("facets/", views.search_facets, name="search-facets"),
    path("new/", views.failure_mode_create, name="failure-mode-create"),
    path("duplicates/", views.duplicates, name="duplicates"),
    path("stewardship/", views.stewardship, name="stewardship"),
    path("export.json", views.export, name="export"),
    path("mitigations/", views.mitigation_list, name="mitigations"),
    path("mitigations/new/", views.mitigation_form, name="mitigation-create"),
    path("mitigations/<slug:slug>/", views.mitigation_detail, name="mitigation"),
    path("mitigations/<slug:slug>/edit/", views.mitigation_form, name="mitigation-edit"),
    path("case-studies/", views.case_study_list, name="case-studies"),
    path("case-studies/<slug:slug>/", views.case_study_detail, name="case-study"),
    path("f/<slug:slug>/", views.failure_mode_detail, name="failure-mode"),
    path("f/<slug:slug>/edit/", views.failure_mode_edit, name="failure-mode-edit"),
    path("f/<slug:slug>/history/", views.failure_mode_history, name="failure-mode-history"),
    path("f/<slug:slug>/history/<int:number>/", views.failure_mode_diff, name="failure-mode-diff"),
    path(
        "f/<slug:slug>/history/<int:number>/restore/",
        views.failure_mode_restore,
        name="failure-mode-restore",
    ),
    path("f/<slug:slug>/reviewed/", views.failure_mode_reviewed, name="failure-mode-reviewed"),
    path("f/<slug:slug>/mitigations/", views.failure_mode_link, name="failure-mode-link"),
    path(
        "f/<slug:slug>/mitigations/<slug:mitigation>/unlink/",
        views.failure_mode_unlink,
        name="failure-mode-unlink",
    ),
    path(
        "f/<slug:slug>/revisions/<int:pk>/publish/",
        views.revision_decide,
        {"decision": "publish"},
        name="revision-publish",
    ),
    path(
        "f/<slug:slug>/revisions/<int:pk>/reject/",
        views.revision_decide,
        {"decision": "reject"},
        name="revision-reject",
    ),
    path("f/<slug:slug>/<slug:action>/", views.failure_mode_action, name="failure-mode-action"),
]
