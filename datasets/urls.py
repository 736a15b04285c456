from django.urls import path

from datasets import views

app_name = "datasets"

dataset = "<uuid:dataset_id>/"
version = "<uuid:dataset_id>/versions/<uuid:version_id>/"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path(dataset, views.dataset_detail, name="detail"),
    path(f"{dataset}delete/", views.dataset_delete, name="delete"),
    path(f"{dataset}drafts/", views.draft_create, name="draft_create"),
    path(version, views.version_detail, name="version"),
    path(f"{version}release/", views.version_release, name="release"),
    path(f"{version}delete/", views.version_delete, name="version_delete"),
    path(f"{version}import/", views.version_import, name="import"),
    path(f"{version}export/<str:fmt>/", views.version_export, name="export"),
    path(f"{version}rows/", views.row_add, name="row_add"),
    path(f"{version}rows/delete/", views.rows_delete, name="rows_delete"),
    path(f"{version}rows/<uuid:item_id>/", views.row_edit, name="row_edit"),
    path(f"{version}rows/<uuid:item_id>/delete/", views.row_delete, name="row_delete"),
]
