from django.urls import path

from workflows.api import views

urlpatterns = [
    path("workflows", views.WorkflowsApi.as_view(), name="api-workflows"),
    path("workflows/<uuid:workflow_id>", views.WorkflowDetailApi.as_view(), name="api-workflow"),
    path(
        "workflows/<uuid:workflow_id>/versions",
        views.VersionsApi.as_view(),
        name="api-workflow-versions",
    ),
    path(
        "workflows/<uuid:workflow_id>/versions/<uuid:version_id>",
        views.VersionDetailApi.as_view(),
        name="api-workflow-version",
    ),
    path(
        "workflows/<uuid:workflow_id>/versions/<uuid:version_id>/try",
        views.VersionTryApi.as_view(),
        name="api-workflow-version-try",
    ),
]
