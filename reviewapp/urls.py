from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from reviewapp.core import urls as core_urls
from reviewapp.core import views as core_views
from reviewapp.views import home

urlpatterns = [
    # First: the ingest API is the busiest path, and Django tries the patterns in order.
    path("api/v1/", include("reviewapp.api.urls")),
    path("", home.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("reviewapp.accounts.urls")),
    path("accounts/lockouts/", core_views.signin_lockouts, name="signin-lockouts"),
    path(
        "accounts/lockouts/<int:lockout_id>/clear",
        core_views.signin_lockout_clear,
        name="signin-lockout-clear",
    ),
    path("ingest/rejected/", home.rejected_envelopes, name="rejected-envelopes"),
    path("queue/", include("reviewapp.views.urls")),
    path("delivery/", include("reviewapp.delivery.urls")),
    path("dashboards/", include("reviewapp.dashboards.urls")),
    path("governance/", include("reviewapp.governance.views.urls")),
    path("failsafe/", include("reviewapp.failsafe.urls")),
    path("quality/", include("reviewapp.quality.urls")),
    path("catalog/", include("catalog.urls")),
    path("playbooks/", include("playbooks.urls")),
    path("incidents/", include("playbooks.incidents.urls")),
    path("audit/", include("reviewapp.core.urls")),
    path("notifications/", include((core_urls.notification_urlpatterns, "notifications"))),
    path("", include("reviewapp.dashboards.metrics_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("reviewapp.delivery.api_urls")),
    path("api/v1/", include("catalog.api_urls")),
    path("api/v1/", include("reviewapp.governance.api.urls")),
    path("api/v1/", include("reviewapp.failsafe.api.urls")),
    path("api/v1/", include("playbooks.api_urls")),
    path("api/v1/", include("reviewapp.quality.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]

handler400 = "reviewapp.core.views.bad_request"
handler403 = "reviewapp.core.views.permission_denied"
handler404 = "reviewapp.core.views.page_not_found"
handler500 = "reviewapp.core.views.server_error"
