from django.db import migrations


def refresh_builtin_metrics(apps, schema_editor):
    # The catalogue gained the span-level built-ins (metrics/builtins/spans.py).
    from metrics.catalogue import ensure_builtin_metrics

    ensure_builtin_metrics(
        apps.get_model("metrics", "Metric"), apps.get_model("metrics", "MetricVersion")
    )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0004_h13_answer_correctness")]

    operations = [migrations.RunPython(refresh_builtin_metrics, migrations.RunPython.noop)]
