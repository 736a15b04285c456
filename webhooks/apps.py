from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from runs.signals import run_finished
        from webhooks import receivers

        run_finished.connect(receivers.on_run_finished, dispatch_uid="webhooks.on_run_finished")
