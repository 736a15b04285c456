from django.urls import path

from traces.views import otlp_traces

urlpatterns = [
    path("v1/traces", otlp_traces, name="otlp_traces"),
    # Exporters join the base endpoint and "v1/traces" in slightly different ways.
    path("v1/traces/", otlp_traces, name="otlp_traces_slash"),
]
