from django.urls import path

from traces import monitor_views as views

app_name = "monitors"

urlpatterns = [
    path("", views.monitor_list, name="list"),
    path("new/", views.monitor_create, name="create"),
    path("<uuid:monitor_id>/", views.monitor_detail, name="detail"),
    path("<uuid:monitor_id>/edit/", views.monitor_edit, name="edit"),
    path("<uuid:monitor_id>/delete/", views.monitor_delete, name="delete"),
]
