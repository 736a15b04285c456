from django.urls import path

from traces.views import otlp_traces

urlpatterns = [
    path("v1/traces", otlp_traces, name="otlp_traces"),
]
