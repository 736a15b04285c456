from django.urls import path

from projects.views import placeholder

app_name = "workflows"
urlpatterns = [
    path(
        "",
        placeholder,
        {
            "area": "WORKFLOWS",
            "text": "The agents this project evaluates will be listed here: HTTP endpoints, "
            "OpenAI-compatible chat models and Python callables, each with its versions.",
        },
        name="list",
    ),
]
