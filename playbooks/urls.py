from django.urls import path

from . import views

app_name = "playbooks"

urlpatterns = [
    path("", views.playbook_list, name="list"),
    path("new/", views.playbook_create, name="create"),
    path("from-catalog/", views.draft_from_catalog, name="draft-from-catalog"),
    path("<slug:slug>/", views.playbook_detail, name="detail"),
    path("<slug:slug>/edit/", views.playbook_edit, name="edit"),
    path("<slug:slug>/diff/", views.playbook_diff, name="diff"),
    path("<slug:slug>/<slug:action>/", views.playbook_action, name="action"),
]
