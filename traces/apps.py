from django.apps import AppConfig


class TracesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "traces"
    verbose_name = "Traces (OpenTelemetry ingestion)"

    def ready(self) -> None:
        from runs.signals import run_finished
        from traces import receivers

        run_finished.connect(receivers.on_run_finished, dispatch_uid="traces.on_run_finished")
