from django.urls import path

from workflows import views

app_name = "workflows"
urlpatterns = [
    path("", views.workflow_list, name="list"),
    path("new/", views.create, name="create"),
    path("<uuid:workflow_id>/", views.detail, name="detail"),
    path("<uuid:workflow_id>/edit/", views.edit, name="edit"),
    path("<uuid:workflow_id>/try/", views.try_version, name="try"),
    path("<uuid:workflow_id>/delete/", views.delete, name="delete"),
]
