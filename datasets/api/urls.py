from django.urls import path

from datasets.api import views

base = "datasets/<uuid:dataset_id>"
version = f"{base}/versions/<uuid:version_id>"

urlpatterns = [
    path("datasets", views.DatasetListApi.as_view(), name="api-datasets"),
    path(base, views.DatasetDetailApi.as_view(), name="api-dataset"),
    path(f"{base}/versions", views.VersionListApi.as_view(), name="api-dataset-versions"),
    path(version, views.VersionDetailApi.as_view(), name="api-dataset-version"),
    path(f"{version}/release", views.VersionReleaseApi.as_view(), name="api-dataset-release"),
    path(f"{version}/items", views.ItemListApi.as_view(), name="api-dataset-items"),
    path(
        f"{version}/items/bulk-delete",
        views.ItemsBulkDeleteApi.as_view(),
        name="api-dataset-items-bulk-delete",
    ),
    path(
        f"{version}/items/<uuid:item_id>",
        views.ItemDetailApi.as_view(),
        name="api-dataset-item",
    ),
    path(f"{version}/import", views.VersionImportApi.as_view(), name="api-dataset-import"),
    path(f"{version}/export", views.VersionExportApi.as_view(), name="api-dataset-export"),
]
