from django.urls import path

from metrics import views

app_name = "metrics"
urlpatterns = [
    path("", views.metric_list, name="list"),
    path("new/", views.metric_create, name="create"),
    path("new/try/", views.metric_try_draft, name="try_draft"),
    path("prompt-variables/", views.prompt_variables, name="prompt_variables"),
    path("<uuid:metric_id>/", views.metric_detail, name="detail"),
    path("<uuid:metric_id>/edit/", views.metric_edit, name="edit"),
    path("<uuid:metric_id>/delete/", views.metric_delete, name="delete"),
    path(
        "<uuid:metric_id>/versions/<uuid:version_id>/try/",
        views.metric_try,
        name="try",
    ),
]
