from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from evalsite.health import healthz
from projects import views as project_views
from workflows.views_demo import demo_agent_endpoint

project_areas = [
    path("", project_views.project_detail, name="project_detail"),
    path("evaluations/", include("runs.urls")),
    path("datasets/", include("datasets.urls")),
    path("monitors/", include("traces.monitor_urls")),
    path("workflows/", include("workflows.urls")),
    path("metrics/", include("metrics.urls")),
    path("settings/webhooks/", include("webhooks.urls")),
]

api_v1 = [
    path("", include("projects.api.urls")),
    path("", include("datasets.api.urls")),
    path("", include("workflows.api.urls")),
    path("", include("metrics.api.urls")),
    path("", include("runs.api.urls")),
    path("", include("traces.api_urls")),
]

urlpatterns = [
    path("", project_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    ),
    path("demo-agent/answer", demo_agent_endpoint, name="demo_agent_answer"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/api-keys/", project_views.api_keys, name="api_keys"),
    path(
        "account/api-keys/<uuid:key_id>/revoke/",
        project_views.api_key_revoke,
        name="api_key_revoke",
    ),
    path("projects/new/", project_views.project_create, name="project_create"),
    path("projects/switch/", project_views.project_switch, name="project_switch"),
    path("projects/<uuid:project_id>/", include(project_areas)),
    path("v1/", include(api_v1)),
    path("v2/gen-ai/", include("metrics.api.gradient_urls")),
    path("v2/gen-ai/", include("runs.api.gradient_urls")),
    path("otlp/", include("traces.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
