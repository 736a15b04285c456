from metrics.catalogue import CATALOGUE, ensure_builtin_metrics
from metrics.models import Metric, MetricVersion


def test_every_database_has_the_builtin_metrics(db):
    builtins = Metric.objects.filter(project=None)
    assert builtins.count() == len(CATALOGUE)
    assert all(m.latest_version() is not None for m in builtins)


def test_ensuring_the_builtins_twice_creates_nothing(db):
    before = (Metric.objects.count(), MetricVersion.objects.count())
    assert ensure_builtin_metrics() == 0
    assert (Metric.objects.count(), MetricVersion.objects.count()) == before


def test_a_flushed_database_gets_the_builtins_back(db):
    """``manage.py flush`` empties every table and sends post_migrate, which restores the
    built-ins (the data migrations alone would leave a flushed database without them)."""
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    assert Metric.objects.filter(project=None).count() == len(CATALOGUE)
    assert ensure_builtin_metrics() == 0
