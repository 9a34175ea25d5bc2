from django.urls import path

from . import views, views_opening

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("new/", views.incident_open, name="open"),
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
    path("<int:pk>/<slug:event>/", views.incident_transition, name="transition"),
]
