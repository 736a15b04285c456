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
