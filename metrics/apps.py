from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_builtins(**kwargs) -> None:
    """Create or refresh the built-in metrics after every migrate and every flush.

    The data migrations create them on a new database; this keeps them after
    ``manage.py flush`` too (which empties every table, then sends post_migrate), and it is
    idempotent: an unchanged catalogue writes nothing."""
    from metrics.catalogue import ensure_builtin_metrics

    ensure_builtin_metrics()


class MetricsConfig(AppConfig):
    name = "metrics"

    def ready(self) -> None:
        post_migrate.connect(ensure_builtins, sender=self, dispatch_uid="metrics.ensure_builtins")
