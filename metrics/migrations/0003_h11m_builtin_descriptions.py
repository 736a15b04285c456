"""Refresh the built-in metrics' descriptions, which now state each metric's edge cases
(issue 11). Definitions (params, inputs) are unchanged, so no new versions are made."""

from django.db import migrations


def refresh_builtin_metrics(apps, schema_editor):
    from metrics.catalogue import ensure_builtin_metrics

    ensure_builtin_metrics(
        apps.get_model("metrics", "Metric"), apps.get_model("metrics", "MetricVersion")
    )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0002_builtin_metrics")]

    operations = [migrations.RunPython(refresh_builtin_metrics, migrations.RunPython.noop)]
