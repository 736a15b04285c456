from django.apps import AppConfig
from django.db.models.signals import post_migrate

SWEEPER_SCHEDULE_NAME = "runs.sweep"


def ensure_sweeper_schedule(**kwargs) -> None:
    """Create (or repair) the sweeper's django-q2 schedule; safe to run on every migrate."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SWEEPER_SCHEDULE_NAME,
        defaults={
            "func": "runs.tasks.sweep",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Evaluation runs"

    def ready(self) -> None:
        post_migrate.connect(
            ensure_sweeper_schedule, sender=self, dispatch_uid="runs.ensure_sweeper_schedule"
        )
