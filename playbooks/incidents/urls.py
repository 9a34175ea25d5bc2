from django.urls import path

from . import views, views_postmortem

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("new/", views.incident_open, name="open"),
    path("my-actions/", views_postmortem.my_actions, name="my-actions"),
    path("<int:pk>/", views.incident_detail, name="detail"),
    path("<int:pk>/times/", views.incident_times, name="times"),
    path("<int:pk>/people/", views.incident_people, name="people"),
    path("<int:pk>/notes/", views.incident_note, name="note"),
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
