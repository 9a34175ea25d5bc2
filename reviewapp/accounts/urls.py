from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.account, name="account"),
    path("password/", views.PasswordChange.as_view(), name="password"),
    path("time-zone/", views.time_zone, name="time-zone"),
    path("notifications/", views.notification_preferences, name="notifications"),
    path("two-factor/", views.enrol, name="enrol"),
    path("two-factor/remove/", views.two_factor_remove, name="two-factor-remove"),
    path("two-factor/recovery-codes/", views.recovery_codes, name="recovery-codes"),
    path("tokens/", views.token_create, name="token-create"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("sign-in/code/", views.verify, name="verify"),
]
