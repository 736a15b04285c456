"""Continuous evaluation: a monitor scores newly ingested traces into a rolling run per
period and raises an alert (or a ``run.regressed`` webhook) when quality drops.

Traces arrive through the real OTLP endpoint. The in-process tests work the engine directly
(drainer and finish called in the test); the integration test runs the tick, the drainers
and the alert in a real ``qcluster``, the first tick fired by the django-q2 schedule."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_q.models import Schedule

from datasets.models import Dataset
from runs.engine import drainer
from runs.models import EvaluationRun, MetricResult, RunStatus, RunTask
from tests.runs.conftest import builtin
from tests.traces import payloads as p
from traces import monitors
from traces.models import Monitor, MonitorAlert, MonitorRun, MonitorTrace, TraceItem

URL = "/otlp/v1/traces"
TOOL = "TRACE_SPAN_TYPE_TOOL"


def trace(*, tool_ok: bool = True, question: str = "Where is order 7?"):
    """An agent trace whose tool call succeeded or ended in error."""
    tid, spans = p.agent_trace(question=question)
    if not tool_ok:
        spans[2]["status"] = {"code": 2, "message": "lookup timed out"}
    return tid, spans


@pytest.fixture
def send(client, owner, project):
    from projects.services import api_key_create

    _, raw = api_key_create(user=owner, name="otel")

    def post(spans, *, dataset="prod-traces"):
        response = client.post(
            URL,
            data=p.body(spans, dataset=dataset),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
        assert response.status_code == 200, response.content
        return response

    return post


def send_traces(send, *, good: int = 0, bad: int = 0) -> list[str]:
    ids, spans = [], []
    for index in range(good + bad):
        tid, more = trace(tool_ok=index < good, question=f"question {uuid.uuid4().hex[:6]}")
        ids.append(tid)
        spans += more
    send(spans)
    return ids


def monitor_data(dataset, **overrides) -> dict:
    tool = builtin("span_tool_call_succeeded")
    data = {
        "name": "Checkout agent",
        "dataset_id": str(dataset.id),
        "metrics": [{"id": str(tool.id), "span_type": TOOL}],
        "star_metric_id": str(tool.id),
        "star_threshold": 0.8,
        "interval_minutes": 5,
        "period": "day",
        "settle_seconds": 0,
        "score_existing": True,
    }
    data.update(overrides)
    return data


def work(run_id) -> EvaluationRun:
    """What the queued drainer does: score every pending row and finish the run."""
    drainer.drain_run(run_id)
    return EvaluationRun.objects.get(id=run_id)


def tick(monitor, *, later: int = 0):
    """A tick ``later`` seconds from now, the monitor's interval having passed."""
    Monitor.objects.filter(pk=monitor.pk).update(next_tick_at=timezone.now())
    now = timezone.now() + timedelta(seconds=later)
    return monitors.monitor_tick(monitor_id=monitor.id, now=now)


@pytest.mark.django_db
def test_a_monitor_scores_new_traces_and_alerts_once_when_quality_drops(send, project, owner):
    send_traces(send, good=3)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset))
    assert Schedule.objects.filter(func="traces.tasks.monitors_tick").count() == 1

    first = tick(monitor)
    assert (first.new, first.rescored) == (3, 0)
    run = work(first.run_id)
    assert run.status == RunStatus.SUCCEEDED and run.pass_status is True
    assert run.name.startswith("Checkout agent · ")
    assert monitors.monitor_run_finished(run_id=run.id) is None
    assert not MonitorAlert.objects.exists()

    # Nothing new: the tick scores nothing and the run stays as it was.
    again = tick(monitor, later=1)
    assert (again.new, again.rescored) == (0, 0)
    assert RunTask.objects.filter(run=run).count() == 3

    send_traces(send, bad=2)
    second = tick(monitor, later=2)
    assert second.run_id == run.id  # the same period: the same rolling run
    assert (second.new, second.rescored) == (2, 0)
    run = work(run.id)
    assert RunTask.objects.filter(run=run).count() == 5
    assert MetricResult.objects.filter(run=run).count() == 5  # only the new rows were scored
    assert run.pass_status is False
    summary = run.summaries[str(run.star_binding_id)]
    assert summary["mean"] == pytest.approx(0.6)

    alert = monitors.monitor_run_finished(run_id=run.id)
    assert alert is not None and alert.webhook_event_id is None  # no webhooks set up
    assert "0.6" in alert.message and "0.8" in alert.message
    # The same finish reported twice (a re-queued task) still makes one alert.
    assert monitors.monitor_run_finished(run_id=run.id) == alert
    assert MonitorAlert.objects.filter(monitor=monitor).count() == 1


@pytest.mark.django_db
def test_a_trace_that_gains_spans_after_it_was_scored_is_scored_again(send, project, owner):
    tid, spans = trace(tool_ok=True)
    agent, retriever, tool, llm = spans
    send([agent, retriever, tool])  # the LLM span comes later, in another request
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset))
    run = work(tick(monitor).run_id)
    [task] = RunTask.objects.filter(run=run)
    assert len(task.item.data["trace"]["spans"]) == 3

    send([llm, tool])  # one new span and one already stored
    assert TraceItem.objects.get(trace_id=tid).span_count == 4
    report = tick(monitor, later=1)
    assert (report.new, report.rescored) == (0, 1)
    run = work(run.id)
    [task] = RunTask.objects.filter(run=run)  # still one row for the trace
    assert len(task.item.data["trace"]["spans"]) == 4
    assert MonitorTrace.objects.get(monitor=monitor, trace_id=tid).span_count == 4
    assert (tick(monitor, later=2).new, tick(monitor, later=3).rescored) == (0, 0)


@pytest.mark.django_db
def test_a_trace_still_receiving_spans_waits_for_the_settle_delay(send, project, owner):
    send_traces(send, good=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(
        project=project, user=owner, data=monitor_data(dataset, settle_seconds=120)
    )
    assert monitors.monitor_tick(monitor_id=monitor.id).new == 0  # spans may still come
    assert tick(monitor, later=121).new == 1


@pytest.mark.django_db
def test_a_new_monitor_leaves_earlier_traces_alone_unless_asked(send, project, owner):
    send_traces(send, good=2)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    data = monitor_data(dataset, score_existing=False)
    monitor = monitors.monitor_save(project=project, user=owner, data=data)
    assert tick(monitor).new == 0
    send_traces(send, good=1)
    assert tick(monitor, later=1).new == 1


@pytest.mark.django_db
def test_a_tick_that_fires_twice_does_the_work_once(send, project, owner):
    send_traces(send, good=2)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset))
    now = timezone.now()
    assert len(monitors.monitors_tick(now=now)) == 1
    assert monitors.monitors_tick(now=now) == []  # not due again until the interval passed
    assert monitors.monitor_tick(monitor_id=monitor.id, now=now) is None
    assert RunTask.objects.count() == 2
    assert MonitorRun.objects.filter(monitor=monitor).count() == 1


@pytest.mark.django_db
def test_a_new_period_starts_a_new_run(send, project, owner):
    send_traces(send, good=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(
        project=project, user=owner, data=monitor_data(dataset, period="hour")
    )
    first = tick(monitor)
    send_traces(send, good=1)
    second = tick(monitor, later=3600)
    assert second.new == 1 and second.run_id != first.run_id
    assert MonitorRun.objects.filter(monitor=monitor).count() == 2


@pytest.mark.django_db
def test_bad_monitor_configs_are_refused_field_by_field(send, project, owner, other_project):
    send_traces(send, good=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    exact = builtin("exact_match")
    cases = {
        "name": {"name": "  "},
        "interval_minutes": {"interval_minutes": 0},
        "settle_seconds": {"settle_seconds": "soon"},
        "period": {"period": "month"},
        "star_threshold": {"star_threshold": "high"},
        "metrics": {"metrics": []},
    }
    for field, change in cases.items():
        with pytest.raises(ValidationError) as caught:
            monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset, **change))
        assert field in caught.value.message_dict, (field, caught.value.message_dict)
    with pytest.raises(ValidationError) as caught:
        bad = [{"id": str(exact.id), "input_transformer": {"selector": {"x": "$.dataset.nope"}}}]
        monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset, metrics=bad))
    assert "metrics" in caught.value.message_dict
    # A span metric without the span type it scores.
    tool = builtin("span_tool_call_succeeded")
    with pytest.raises(ValidationError) as caught:
        monitors.monitor_save(
            project=project,
            user=owner,
            data=monitor_data(dataset, metrics=[{"id": str(tool.id)}]),
        )
    assert "span_type" in " ".join(caught.value.message_dict["metrics"])
    # Another project's dataset is unknown here.
    foreign = Dataset.objects.create(project=other_project, name="theirs")
    with pytest.raises(ValidationError) as caught:
        monitors.monitor_save(project=project, user=owner, data=monitor_data(foreign))
    assert caught.value.message_dict["dataset_id"] == ["Unknown dataset."]
    # A dataset without ingested traces cannot be monitored.
    plain = Dataset.objects.create(project=project, name="hand-made")
    with pytest.raises(ValidationError) as caught:
        monitors.monitor_save(project=project, user=owner, data=monitor_data(plain))
    assert "no ingested traces" in caught.value.message_dict["dataset_id"][0]
    assert not Monitor.objects.exists()
    assert not Schedule.objects.filter(func="traces.tasks.monitors_tick").exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_through_a_qcluster_the_schedule_scores_and_a_drop_fires_run_regressed_once(
    send, project, owner
):
    from django_q.tasks import async_task

    from tests.support.processes import qcluster, wait_until
    from tests.workflows.fake_servers import FakeServer, Reply
    from webhooks import services as webhook_services
    from webhooks.models import WebhookDelivery

    send_traces(send, good=3)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    with FakeServer(Reply.sequence([Reply(200)])) as receiver:
        webhook_services.endpoint_create(
            project=project,
            user=owner,
            url=receiver.url,
            events=["run.finished", "run.regressed"],
        )
        monitor = monitors.monitor_save(
            project=project, user=owner, data=monitor_data(dataset, interval_minutes=1)
        )
        with qcluster(log_name="qcluster-monitors") as cluster:

            def run_with(tasks: int, *, pass_status):
                def done():
                    link = MonitorRun.objects.filter(monitor=monitor).first()
                    run = link and EvaluationRun.objects.filter(id=link.run_id).first()
                    return bool(
                        run
                        and run.status == RunStatus.SUCCEEDED
                        and run.total_tasks == tasks
                        and run.pass_status is pass_status
                    )

                wait_until(
                    done, timeout=120, interval=0.5, message=f"the run\n{cluster.log()[-3000:]}"
                )
                return EvaluationRun.objects.get(id=MonitorRun.objects.get(monitor=monitor).run_id)

            def next_tick():
                before = Monitor.objects.get(pk=monitor.pk).last_tick_at
                Monitor.objects.filter(pk=monitor.pk).update(next_tick_at=timezone.now())
                async_task("traces.tasks.monitors_tick")
                wait_until(
                    lambda: Monitor.objects.get(pk=monitor.pk).last_tick_at != before,
                    timeout=60,
                    interval=0.2,
                    message=f"a tick\n{cluster.log()[-3000:]}",
                )

            # The first tick comes from the django-q2 schedule the monitor's save created.
            run = run_with(3, pass_status=True)
            send_traces(send, bad=2)
            next_tick()
            run = run_with(5, pass_status=False)
            wait_until(
                lambda: WebhookDelivery.objects.filter(status="succeeded").exists(),
                timeout=60,
                interval=0.5,
                message=f"the delivered alert\n{cluster.log()[-3000:]}",
            )
            next_tick()  # nothing new: no new rows, no second alert
        run.refresh_from_db()
        assert run.total_tasks == 5 and run.status == RunStatus.SUCCEEDED
        assert MetricResult.objects.filter(run=run).count() == 5
        [alert] = MonitorAlert.objects.filter(monitor=monitor)
        [delivery] = WebhookDelivery.objects.all()  # no run.finished for a monitor's run
        assert delivery.event == "run.regressed" and delivery.event_id == alert.webhook_event_id
        [request] = receiver.requests
        body = request.json
        assert body["type"] == "run.regressed"
        assert body["data"]["run"]["id"] == str(run.id)
        assert body["data"]["monitor"]["name"] == "Checkout agent"
        assert body["data"]["comparison"]["mean"] == pytest.approx(0.6)
        assert body["data"]["comparison"]["threshold"] == 0.8


# --- the Monitors pages --------------------------------------------------------------------


def form_post(dataset, **overrides) -> dict:
    tool = builtin("span_tool_call_succeeded")
    data = {
        "name": "Checkout agent",
        "dataset": str(dataset.id),
        "metrics": [str(tool.id)],
        "span_type": "",
        "bindings": "",
        "star_metric_id": str(tool.id),
        "star_threshold": "0.8",
        "interval_minutes": "10",
        "period": "hour",
        "settle_seconds": "30",
        "is_active": "on",
        "score_existing": "on",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_an_editor_creates_a_monitor_from_the_form_and_sees_its_runs_and_alerts(
    send, project, editor
):
    from tests.conftest import _web_client_for

    send_traces(send, bad=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    web = _web_client_for(editor)
    base = f"/projects/{project.id}/monitors/"
    page = web.get(base + "new/")
    assert page.status_code == 200 and b"prod-traces" in page.content
    response = web.post(base + "new/", form_post(dataset))
    assert response.status_code == 302, response.content.decode()[:3000]
    monitor = Monitor.objects.get(project=project)
    assert response["Location"] == f"{base}{monitor.id}/"
    tool = builtin("span_tool_call_succeeded")
    # The picked span metric targets its own span type (tool spans).
    assert monitor.metrics == [{"id": str(tool.id), "span_type": TOOL}]
    assert (monitor.interval_minutes, monitor.period, monitor.settle_seconds) == (10, "hour", 30)
    assert monitor.star_threshold == 0.8 and monitor.created_by == editor

    run = work(tick(monitor, later=60).run_id)
    assert run.pass_status is False
    monitors.monitor_run_finished(run_id=run.id)
    detail = web.get(f"{base}{monitor.id}/").content.decode()
    assert run.name in detail and "below threshold" in detail
    assert "alert only" in detail  # no webhook endpoint wants run.regressed
    listing = web.get(base).content.decode()
    assert "Checkout agent" in listing and "prod-traces" in listing

    edit = web.post(
        f"{base}{monitor.id}/edit/",
        form_post(dataset, star_threshold="0.5", bindings=json.dumps(monitor.metrics)),
    )
    assert edit.status_code == 302
    monitor.refresh_from_db()
    assert monitor.star_threshold == 0.5


@pytest.mark.django_db
def test_bad_form_input_shows_field_errors_and_saves_nothing(send, project, editor):
    from tests.conftest import _web_client_for

    send_traces(send, good=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    web = _web_client_for(editor)
    url = f"/projects/{project.id}/monitors/new/"
    for change, message in (
        ({"name": ""}, "Give the monitor a name."),
        ({"interval_minutes": "0"}, "A whole number of minutes"),
        ({"star_threshold": "high"}, "The threshold must be a number."),
        ({"metrics": []}, "Add at least one metric."),
        ({"bindings": "[{"}, "Not valid JSON."),
        ({"bindings": '[{"id": "nope"}]'}, "Unknown metric."),
    ):
        response = web.post(url, form_post(dataset, **change))
        assert response.status_code == 400, change
        assert message in response.content.decode(), (change, message)
    assert not Monitor.objects.exists()


@pytest.mark.django_db
def test_viewers_read_monitors_but_cannot_write_and_outsiders_see_nothing(
    send, project, owner, viewer, outsider, other_project
):
    from tests.conftest import _web_client_for

    send_traces(send, good=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset))
    base = f"/projects/{project.id}/monitors/"
    reader = _web_client_for(viewer)
    assert reader.get(base).status_code == 200
    page = reader.get(f"{base}{monitor.id}/")
    assert page.status_code == 200 and b"Edit" not in page.content
    assert reader.post(base + "new/", form_post(dataset, name="Mine")).status_code == 403
    assert reader.post(f"{base}{monitor.id}/delete/").status_code == 403
    stranger = _web_client_for(outsider)
    assert stranger.get(f"{base}{monitor.id}/").status_code == 404
    # Another project's admin cannot point their monitor at this project's dataset.
    theirs = f"/projects/{other_project.id}/monitors/new/"
    response = stranger.post(theirs, form_post(dataset, name="Stolen"))
    assert response.status_code == 400
    assert list(Monitor.objects.values_list("name", flat=True)) == ["Checkout agent"]


@pytest.mark.django_db
def test_draft_rows_a_monitor_scored_cannot_be_deleted_from_under_its_run(send, project, owner):
    from datasets import services as dataset_services
    from evalsite.errors import ConflictError

    send_traces(send, good=2)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset))
    run = work(tick(monitor).run_id)
    draft = dataset.versions.get()
    scored = RunTask.objects.filter(run=run).first().item
    with pytest.raises(ConflictError, match="scored by evaluation runs"):
        dataset_services.items_delete(version=draft, item_ids=[scored.id])
    with pytest.raises(ConflictError, match="evaluation runs use it"):
        dataset_services.version_delete(version=draft)
    assert draft.items.count() == 2


# --- /v1/monitors ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_creates_reads_changes_and_deletes_monitors(
    send, project, api, viewer_api, outsider_api
):
    send_traces(send, good=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    body = {**monitor_data(dataset), "project_id": str(project.id)}
    created = api.post("/v1/monitors", body, format="json")
    assert created.status_code == 201, created.content
    monitor_id = created.json()["id"]
    assert created.json()["star_threshold"] == 0.8 and created.json()["runs"] == []
    listed = api.get(f"/v1/monitors?project_id={project.id}").json()["data"]
    assert [m["id"] for m in listed] == [monitor_id]

    changed = api.patch(f"/v1/monitors/{monitor_id}", {"star_threshold": 0.5}, format="json")
    assert changed.status_code == 200 and changed.json()["star_threshold"] == 0.5
    assert changed.json()["name"] == "Checkout agent"  # PATCH keeps what it does not name

    bad = api.patch(f"/v1/monitors/{monitor_id}", {"interval_minutes": -3}, format="json")
    assert bad.status_code == 400
    assert "interval_minutes" in json.dumps(bad.json())
    assert Monitor.objects.get(pk=monitor_id).interval_minutes == 5  # nothing changed

    assert viewer_api.get(f"/v1/monitors/{monitor_id}").status_code == 200
    assert viewer_api.delete(f"/v1/monitors/{monitor_id}").status_code == 403
    assert outsider_api.get(f"/v1/monitors/{monitor_id}").status_code == 404
    assert api.delete(f"/v1/monitors/{monitor_id}").status_code == 204
    assert not Monitor.objects.exists()
    assert not Schedule.objects.filter(func="traces.tasks.monitors_tick").exists()


@pytest.mark.django_db
def test_the_api_refuses_another_projects_dataset_and_bad_bindings(
    send, project, api, outsider_api, other_project
):
    send_traces(send, good=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    theirs = {**monitor_data(dataset), "project_id": str(other_project.id)}
    refused = outsider_api.post("/v1/monitors", theirs, format="json")
    assert refused.status_code == 400
    assert "Unknown dataset." in json.dumps(refused.json())
    body = {
        **monitor_data(dataset, metrics=[{"id": str(uuid.uuid4())}]),
        "project_id": str(project.id),
    }
    bad = api.post("/v1/monitors", body, format="json")
    assert bad.status_code == 400 and "Unknown metric." in json.dumps(bad.json())
    assert not Monitor.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_tick_that_dies_mid_way_leaves_nothing_and_the_next_one_does_it_all(
    send, project, owner, monkeypatch
):
    send_traces(send, good=2)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset))
    real = monitors.append_items

    def dies_after_appending(run_id, **kwargs):
        real(run_id, **kwargs)
        raise RuntimeError("the worker was killed")

    monkeypatch.setattr(monitors, "append_items", dies_after_appending)
    assert monitors.monitors_tick() == []  # logged, not raised
    assert not RunTask.objects.exists() and not MonitorTrace.objects.exists()
    assert not MonitorRun.objects.exists()
    monitor.refresh_from_db()
    assert monitor.is_due(timezone.now())
    monkeypatch.setattr(monitors, "append_items", real)
    [report] = monitors.monitors_tick()
    assert report.new == 2 and RunTask.objects.count() == 2


@pytest.mark.django_db
def test_operators_see_monitors_and_alerts_in_the_admin(send, project, owner, client):
    from django.contrib.auth import get_user_model

    send_traces(send, bad=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset))
    run = work(tick(monitor).run_id)
    alert = monitors.monitor_run_finished(run_id=run.id)
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    for url in (
        "/admin/traces/monitor/",
        f"/admin/traces/monitor/{monitor.id}/change/",
        "/admin/traces/monitoralert/",
        f"/admin/traces/monitoralert/{alert.id}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Checkout agent" in response.content.decode(), url
    # Pausing it in the admin removes the schedule (no active monitor is left).
    form = client.get(f"/admin/traces/monitor/{monitor.id}/change/")
    assert form.status_code == 200
    inline = {
        "alerts-TOTAL_FORMS": "1",
        "alerts-INITIAL_FORMS": "1",
        "alerts-MIN_NUM_FORMS": "0",
        "alerts-MAX_NUM_FORMS": "1000",
        "alerts-0-id": str(alert.id),
        "alerts-0-monitor": str(monitor.id),
    }
    response = client.post(f"/admin/traces/monitor/{monitor.id}/change/", inline)
    assert response.status_code == 302, response.content.decode()[:2000]
    monitor.refresh_from_db()
    assert monitor.is_active is False
    assert not Schedule.objects.filter(func="traces.tasks.monitors_tick").exists()


@pytest.mark.django_db
def test_changing_the_metrics_or_threshold_starts_a_new_run_for_the_period(send, project, owner):
    send_traces(send, good=1)
    dataset = Dataset.objects.get(project=project, name="prod-traces")
    monitor = monitors.monitor_save(project=project, user=owner, data=monitor_data(dataset))
    first = tick(monitor)
    same = monitors.monitor_save(
        project=project, user=owner, data=monitor_data(dataset, interval_minutes=9), monitor=monitor
    )
    send_traces(send, good=1)
    assert tick(same, later=1).run_id == first.run_id  # the schedule is not the config
    monitors.monitor_save(
        project=project, user=owner, data=monitor_data(dataset, star_threshold=0.5), monitor=monitor
    )
    send_traces(send, good=1)
    third = tick(monitor, later=2)
    assert third.new == 1 and third.run_id != first.run_id
    assert EvaluationRun.objects.get(id=third.run_id).star_threshold == 0.5
    assert MonitorRun.objects.filter(monitor=monitor).count() == 2
