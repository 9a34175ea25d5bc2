from django.urls import path

from . import views

app_name = "dashboards"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("models/<slug:slug>/", views.model_detail, name="model"),
]
