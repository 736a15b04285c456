from django.urls import path

from metrics.api import gradient_custom, views

urlpatterns = [
    path(
        "evaluation_metrics",
        views.GradientMetricListApi.as_view(),
        name="gradient-evaluation-metrics",
    ),
    path(
        "custom_evaluation_metrics",
        gradient_custom.CustomMetricCreateApi.as_view(),
        name="gradient-custom-metrics",
    ),
    path(
        "custom_evaluation_metrics/<str:metric_uuid>",
        gradient_custom.CustomMetricDetailApi.as_view(),
        name="gradient-custom-metric",
    ),
]
