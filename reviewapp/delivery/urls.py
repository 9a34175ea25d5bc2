from django.urls import path

from . import views

app_name = "delivery"

urlpatterns = [
    path("", views.delivery_list, name="list"),
    path("items/<int:item_id>/", views.delivery_item, name="item"),
    path("<int:pk>/retry/", views.delivery_retry, name="retry"),
    path("export/", views.export_page, name="export"),
    path("models/<slug:slug>/callback/", views.callback_settings, name="callback"),
]
