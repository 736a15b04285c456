import sys

from django.apps import AppConfig
from django.db.models.signals import post_migrate

SWEEPER_SCHEDULE_NAME = "runs.sweep"
# django-q2 schedules repeat at most once a minute and its scheduler looks every ~30 s: two
# one-minute schedules half a minute apart sweep about every 30 s, so a lost planning message
# is re-planned within a minute.
SWEEPER_SCHEDULES = {SWEEPER_SCHEDULE_NAME: 0, f"{SWEEPER_SCHEDULE_NAME}.half": 30}


def ensure_sweeper_schedule(**kwargs) -> None:
    """Create (or repair) the sweeper's django-q2 schedules; safe to run on every migrate."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    for name, offset in SWEEPER_SCHEDULES.items():
        schedule, created = Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": "runs.tasks.sweep",
                "schedule_type": Schedule.MINUTES,
                "minutes": 1,
                "repeats": -1,
            },
        )
        if created and offset:
            schedule.next_run = timezone.now() + timedelta(seconds=offset)
            schedule.save(update_fields=["next_run"])


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Evaluation runs"

    def ready(self) -> None:
        post_migrate.connect(
            ensure_sweeper_schedule, sender=self, dispatch_uid="runs.ensure_sweeper_schedule"
        )
        if sys.argv[1:2] == ["qcluster"]:
            # Import what a run's tasks use before the cluster forks its workers: the metric
            # built-ins alone (rouge_score -> nltk -> scipy) take 1-4 s to import, which
            # otherwise every fresh worker pays between a POST and the run's first call.
            import metrics.builtins  # noqa: F401
            import runs.engine.drainer  # noqa: F401
            import runs.engine.planning  # noqa: F401
            import runs.tasks  # noqa: F401
            import workflows.executors  # noqa: F401
