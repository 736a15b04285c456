"""The published ``gradient`` SDK, pointed at this app, reads the metric catalogue unchanged."""

import httpx
import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections

from metrics.catalogue import CATALOGUE

gradient = pytest.importorskip("gradient")


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: requests must not close the test transaction's connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_sdk_lists_evaluation_metrics(api, project, keep_test_connection):
    client = gradient.Gradient(
        base_url="http://testserver",
        access_token=api.raw_key,
        http_client=httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler())),
        max_retries=0,
    )
    response = client.agents.evaluation_metrics.list()
    assert len(response.metrics) == len(CATALOGUE)
    bleu = next(m for m in response.metrics if m.metric_name == "BLEU")
    assert bleu.metric_value_type == "METRIC_VALUE_TYPE_NUMBER"
    assert (bleu.range_min, bleu.range_max) == (0.0, 100.0)
    assert bleu.category == "METRIC_CATEGORY_CORRECTNESS"
    assert bleu.metric_type == "METRIC_TYPE_GENERAL_QUALITY"
    span_errors = next(m for m in response.metrics if m.metric_name == "Span error rate")
    assert span_errors.inverted is True
