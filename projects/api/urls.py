from django.urls import path

from projects.api.views import ProjectListApi

urlpatterns = [path("projects", ProjectListApi.as_view(), name="api-projects")]
