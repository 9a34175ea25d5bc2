from django.urls import path

from . import views

app_name = "core"

urlpatterns = [
    path("", views.audit_list, name="audit-list"),
    path("export.jsonl", views.audit_export, name="audit-export"),
    path("<int:event_id>/", views.audit_detail, name="audit-detail"),
]


# Mounted at /notifications/ under the namespace "notifications" (the project's urls.py).
notification_urlpatterns = [
    path("", views.notification_list, name="list"),
    path("<int:notification_id>/open", views.notification_open, name="open"),
    path("read-all", views.notification_mark_all_read, name="read-all"),
]
