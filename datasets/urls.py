from django.urls import path

from projects.views import placeholder

app_name = "datasets"
urlpatterns = [
    path(
        "",
        placeholder,
        {
            "area": "DATASETS",
            "text": "Versioned datasets will be listed here: create one, import CSV, JSON or "
            "JSONL into a draft, and release it so runs can evaluate it.",
        },
        name="list",
    ),
]
