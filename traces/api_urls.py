from django.urls import path

from traces import api

urlpatterns = [
    path("monitors", api.MonitorListApi.as_view(), name="api-monitors"),
    path("monitors/<uuid:monitor_id>", api.MonitorDetailApi.as_view(), name="api-monitor"),
]
