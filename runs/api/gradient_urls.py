"""``/v2/gen-ai/``: evaluation datasets, runs and test cases in the Gradient dialect (the
metric catalogue, ``evaluation_metrics``, is in ``metrics.api.gradient_urls``)."""

from django.urls import path

from runs.api import gradient as views
from runs.api import gradient_datasets as datasets
from runs.api import gradient_model_evals as model_evals

run = "evaluation_runs/<str:evaluation_run_uuid>"
case = "evaluation_test_cases/<str:test_case_uuid>"
model_run = "model_evaluation_runs/<str:eval_run_uuid>"

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
    path(
        "model_evaluation_metrics",
        model_evals.ModelMetricListApi.as_view(),
        name="gradient-model-evaluation-metrics",
    ),
    path(
        "model_evaluation_presets",
        model_evals.PresetListApi.as_view(),
        name="gradient-model-evaluation-presets",
    ),
    path(
        "model_evaluation_presets/<str:eval_preset_uuid>",
        model_evals.PresetDetailApi.as_view(),
        name="gradient-model-evaluation-preset",
    ),
    path(
        "model_evaluation_runs",
        model_evals.ModelRunListCreateApi.as_view(),
        name="gradient-model-evaluation-runs",
    ),
    path(
        "model_evaluation_runs/results/downloads/<str:token>",
        model_evals.ResultsDownloadApi.as_view(),
        name="gradient-model-evaluation-results-download",
    ),
    path(
        model_run,
        model_evals.ModelRunDetailApi.as_view(),
        name="gradient-model-evaluation-run",
    ),
    path(
        f"{model_run}/cancel",
        model_evals.ModelRunCancelApi.as_view(),
        name="gradient-model-evaluation-run-cancel",
    ),
    path(
        f"{model_run}/results/download_url",
        model_evals.ResultsDownloadUrlApi.as_view(),
        name="gradient-model-evaluation-run-download-url",
    ),
    path(
        "model_evaluation/datasets/file_upload_presigned_urls",
        model_evals.ModelDatasetPresignApi.as_view(),
        name="gradient-model-evaluation-dataset-presign",
    ),
]
