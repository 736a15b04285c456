from django.db import migrations


def create_builtin_metrics(apps, schema_editor):
    from metrics.catalogue import ensure_builtin_metrics

    ensure_builtin_metrics(
        apps.get_model("metrics", "Metric"), apps.get_model("metrics", "MetricVersion")
    )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0001_initial")]

    operations = [migrations.RunPython(create_builtin_metrics, migrations.RunPython.noop)]
