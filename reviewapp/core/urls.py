from django.urls import path

from . import views

app_name = "core"

urlpatterns = [
    path("", views.audit_list, name="audit-list"),
    path("export.jsonl", views.audit_export, name="audit-export"),
    path("<int:event_id>/", views.audit_detail, name="audit-detail"),
]
