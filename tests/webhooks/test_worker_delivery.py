"""Through a real ``qcluster``: a run the workers finish is announced to the project's
endpoint as a signed ``run.finished``, by the tasks the finish signal queued."""

from __future__ import annotations

import pytest

from runs import services
from tests.runs.conftest import exact_match_entry, qa_rows
from tests.support.controlled_agent import ControlledAgent
from tests.support.processes import qcluster, wait_until
from tests.workflows.fake_servers import FakeServer, Reply
from webhooks import signing
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_run_finished_by_the_workers_is_delivered_signed(
    project, owner, make_dataset, make_agent, make_endpoint
):
    with (
        FakeServer(ControlledAgent()) as agent,
        FakeServer(Reply.sequence([Reply(500), Reply(200)])) as receiver,
    ):
        version = make_dataset(qa_rows(8))
        workflow = make_agent(agent.url)
        endpoint, secret = make_endpoint(receiver.url)
        with qcluster(EVALSITE_WEBHOOK_BACKOFF_SECONDS="1", log_name="webhooks-qcluster") as q:
            run = services.run_start(
                project=project,
                user=owner,
                name="announced",
                dataset_version_id=version.id,
                config=[exact_match_entry(workflow)],
            )
            # The first answer is a 500: the retry goes through django-q2's scheduler.
            wait_until(
                lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).exists(),
                timeout=120,
                interval=0.5,
                message=f"a delivered webhook\n{q.log()[-3000:]}",
            )
        delivery = WebhookDelivery.objects.get()
        assert delivery.event == "run.finished" and delivery.run_id == run.id
        assert delivery.attempts == 2 and delivery.response_code == 200
        first, second = receiver.requests
        assert first.json["data"]["run"]["id"] == str(run.id)
        assert signing.verify(secret, second.body, second.headers[signing.HEADER])
