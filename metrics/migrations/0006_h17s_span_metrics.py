from django.db import migrations


def refresh_builtin_metrics(apps, schema_editor):
    # The catalogue gained tool arguments match a JSON Schema and retriever chunk relevance.
    from metrics.catalogue import ensure_builtin_metrics

    ensure_builtin_metrics(
        apps.get_model("metrics", "Metric"), apps.get_model("metrics", "MetricVersion")
    )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0005_h17b_span_metrics")]

    operations = [migrations.RunPython(refresh_builtin_metrics, migrations.RunPython.noop)]
