from django.db import migrations


def refresh_builtin_metrics(apps, schema_editor):
    # The catalogue gained "Answer correctness" (metrics/builtins/answer.py).
    from metrics.catalogue import ensure_builtin_metrics

    ensure_builtin_metrics(
        apps.get_model("metrics", "Metric"), apps.get_model("metrics", "MetricVersion")
    )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0003_h11m_builtin_descriptions")]

    operations = [migrations.RunPython(refresh_builtin_metrics, migrations.RunPython.noop)]
