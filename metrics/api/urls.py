from django.urls import path

from metrics.api import views

base = "metrics/<uuid:metric_id>"
version = f"{base}/versions/<uuid:version_id>"

urlpatterns = [
    path("metrics", views.MetricListApi.as_view(), name="api-metrics"),
    path(base, views.MetricDetailApi.as_view(), name="api-metric"),
    path(f"{base}/versions", views.MetricVersionListApi.as_view(), name="api-metric-versions"),
    path(version, views.MetricVersionDetailApi.as_view(), name="api-metric-version"),
    path(f"{version}/try", views.MetricVersionTryApi.as_view(), name="api-metric-version-try"),
]
