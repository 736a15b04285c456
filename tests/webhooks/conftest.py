import pytest

from tests.runs.conftest import make_agent, make_dataset  # noqa: F401 - fixtures re-used here
from webhooks import services
from webhooks.models import SUBSCRIBABLE


@pytest.fixture
def make_endpoint(project, owner):
    def make(url: str, *, events=None):
        return services.endpoint_create(
            project=project, user=owner, url=url, events=events or list(SUBSCRIBABLE)
        )

    return make
