from django.urls import path

from projects.views import placeholder

app_name = "metrics"
urlpatterns = [
    path(
        "",
        placeholder,
        {
            "area": "METRICS",
            "text": "The metric catalogue will be listed here by category: built-in "
            "deterministic metrics, LLM-as-judge rubrics and custom Python metrics.",
        },
        name="list",
    ),
]
