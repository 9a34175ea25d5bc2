from django.urls import path

from . import (
    views,
    views_checklist,
    views_impact,
    views_metrics,
    views_opening,
    views_postmortem,
    views_recovery,
)

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("new/", views.incident_open, name="open"),
    path("metrics/", views_metrics.incident_metrics, name="metrics"),
    path("my-actions/", views_postmortem.my_actions, name="my-actions"),
    path("<int:pk>/", views.incident_detail, name="detail"),
    path(
        "from-alert/<int:alert_id>/",
        views_opening.incident_open_from_alert,
        name="open-from-alert",
    ),
    path("<int:pk>/take-command/", views_opening.incident_take_command, name="take-command"),
    path("<int:pk>/times/", views.incident_times, name="times"),
    path("<int:pk>/people/", views.incident_people, name="people"),
    path("<int:pk>/notes/", views.incident_note, name="note"),
    path(
        "<int:pk>/failure-modes/",
        views.incident_link_failure_mode,
        name="link-failure-mode",
    ),
    path("<int:pk>/steps/", views_checklist.incident_step, name="step"),
    path("<int:pk>/steps/undo/", views_checklist.incident_step_undo, name="step-undo"),
    path("<int:pk>/playbook/", views_checklist.incident_pin, name="pin"),
    path("<int:pk>/communications/", views_checklist.incident_sent, name="sent"),
    path(
        "<int:pk>/recovery/simulate/",
        views_recovery.recovery_simulate,
        name="recovery-simulate",
    ),
    path("<int:pk>/recovery/choose/", views_recovery.recovery_choose, name="recovery-choose"),
    path("<int:pk>/rechecks/", views_impact.recheck_queue, name="recheck"),
    path("<int:pk>/impact-start/", views_impact.impact_start_use, name="impact-start"),
    path("<int:pk>/hypotheses/", views_impact.hypothesis_add, name="hypothesis-add"),
    path("<int:pk>/hypotheses/<int:hid>/", views_impact.hypothesis_edit, name="hypothesis-edit"),
    path(
        "<int:pk>/hypotheses/<int:hid>/decide/",
        views_impact.hypothesis_decide,
        name="hypothesis-decide",
    ),
    # Post-mortem, action items and exports (before the lifecycle's catch-all below).
    path("<int:pk>/postmortem/start/", views_postmortem.postmortem_start, name="pm-start"),
    path("<int:pk>/postmortem/", views_postmortem.postmortem_save, name="pm-save"),
    path("<int:pk>/postmortem/catalog/", views_postmortem.postmortem_catalog, name="pm-catalog"),
    path("<int:pk>/action-items/", views_postmortem.action_item_add, name="action-add"),
    path(
        "<int:pk>/action-items/<int:aid>/",
        views_postmortem.action_item_update,
        name="action-update",
    ),
    path("<int:pk>/export.md", views_postmortem.incident_export_md, name="export-md"),
    path("<int:pk>/print/", views_postmortem.incident_print, name="print"),
    path("<int:pk>/<slug:event>/", views.incident_transition, name="transition"),
]
