"""``/v2/gen-ai/``: evaluation datasets, runs and test cases in the Gradient dialect (the
metric catalogue, ``evaluation_metrics``, is in ``metrics.api.gradient_urls``)."""

from django.urls import path

from runs.api import gradient as views
from runs.api import gradient_datasets as datasets

run = "evaluation_runs/<str:evaluation_run_uuid>"
case = "evaluation_test_cases/<str:test_case_uuid>"

urlpatterns = [
    path(
        "evaluation_datasets",
        datasets.EvaluationDatasetListApi.as_view(),
        name="gradient-datasets",
    ),
    path(
        "evaluation_datasets/file_upload_presigned_urls",
        datasets.PresignApi.as_view(),
        name="gradient-dataset-presign",
    ),
    path(
        "evaluation_datasets/uploads/<str:object_key>",
        datasets.UploadApi.as_view(),
        name="gradient-dataset-upload",
    ),
    path(
        "evaluation_datasets/downloads/<str:token>",
        datasets.DownloadApi.as_view(),
        name="gradient-dataset-download",
    ),
    path(
        "evaluation_datasets/<str:dataset_uuid>",
        datasets.EvaluationDatasetDetailApi.as_view(),
        name="gradient-dataset",
    ),
    path(
        "evaluation_datasets/<str:dataset_uuid>/download_url",
        datasets.DownloadUrlApi.as_view(),
        name="gradient-dataset-download-url",
    ),
    path("evaluation_runs", views.EvaluationRunCreateApi.as_view(), name="gradient-runs"),
    path(run, views.EvaluationRunRetrieveApi.as_view(), name="gradient-run"),
    path(f"{run}/results", views.EvaluationRunResultsApi.as_view(), name="gradient-run-results"),
    path(
        f"{run}/results/<str:prompt_id>",
        views.EvaluationRunPromptApi.as_view(),
        name="gradient-run-prompt",
    ),
    path(
        "evaluation_test_cases",
        views.TestCaseListCreateApi.as_view(),
        name="gradient-test-cases",
    ),
    path(case, views.TestCaseDetailApi.as_view(), name="gradient-test-case"),
    path(
        "workspaces/<str:workspace_uuid>/evaluation_test_cases",
        views.WorkspaceTestCasesApi.as_view(),
        name="gradient-workspace-test-cases",
    ),
    path(
        "evaluation_test_cases/<str:evaluation_test_case_uuid>/evaluation_runs",
        views.TestCaseRunsApi.as_view(),
        name="gradient-test-case-runs",
    ),
]
