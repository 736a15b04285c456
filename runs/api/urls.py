"""``/v1/evaluations``: the Dynamiq dialect."""

from django.urls import path

from runs.api import dynamiq as views
from runs.api.compare import EvaluationCompareApi

run = "evaluations/<str:evaluation_id>"

urlpatterns = [
    path("evaluations", views.EvaluationListCreateApi.as_view(), name="api-evaluations"),
    path(run, views.EvaluationDetailApi.as_view(), name="api-evaluation"),
    path(f"{run}/results", views.EvaluationResultsApi.as_view(), name="api-evaluation-results"),
    path(
        f"{run}/results/download",
        views.EvaluationDownloadApi.as_view(),
        name="api-evaluation-download",
    ),
    path(f"{run}/metrics", views.EvaluationMetricsApi.as_view(), name="api-evaluation-metrics"),
    path(f"{run}/rerun", views.EvaluationRerunApi.as_view(), name="api-evaluation-rerun"),
    path(f"{run}/cancel", views.EvaluationCancelApi.as_view(), name="api-evaluation-cancel"),
    path(f"{run}/compare", EvaluationCompareApi.as_view(), name="api-evaluation-compare"),
]
