from django.urls import re_path

from traces.views import otlp_traces

urlpatterns = [
    # Exporters join the base endpoint and "v1/traces" in slightly different ways.
    re_path(r"^v1/traces/?$", otlp_traces, name="otlp_traces"),
]
