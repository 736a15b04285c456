from django.urls import path

from projects.views import placeholder

app_name = "runs"
urlpatterns = [
    path(
        "",
        placeholder,
        {
            "area": "EVALUATIONS",
            "text": "Evaluation runs will be listed here with NAME, STATUS, STARTED BY and "
            "STARTED AT, and the Run evaluation button will open the New Evaluation Run sheet.",
        },
        name="list",
    ),
]
