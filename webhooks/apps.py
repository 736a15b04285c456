from django.apps import AppConfig
from django.db.models.signals import post_migrate

SWEEP_SCHEDULE_NAME = "webhooks.sweep"


def ensure_sweep_schedule(**kwargs) -> None:
    """The schedule that re-queues lost deliveries; created (or repaired) on every migrate."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE_NAME,
        defaults={
            "func": "webhooks.tasks.webhook_sweep",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from runs.signals import run_finished
        from webhooks import receivers

        run_finished.connect(receivers.on_run_finished, dispatch_uid="webhooks.on_run_finished")
        post_migrate.connect(
            ensure_sweep_schedule, sender=self, dispatch_uid="webhooks.ensure_sweep_schedule"
        )
