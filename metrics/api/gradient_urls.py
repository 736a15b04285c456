from django.urls import path

from metrics.api import views

urlpatterns = [
    path(
        "evaluation_metrics",
        views.GradientMetricListApi.as_view(),
        name="gradient-evaluation-metrics",
    ),
]
