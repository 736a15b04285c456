"""The real thing: gunicorn and a django-q2 cluster as subprocesses on the test database."""

from __future__ import annotations

import httpx
import pytest
from django_q.models import Task
from django_q.tasks import async_task

from projects.demo import seed_demo
from tests.support.processes import qcluster, wait_until, web_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_web_server_serves_the_home_page_and_the_worker_runs_a_task():
    seed_demo()
    with web_server() as base, qcluster() as cluster:
        with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as http:
            login = http.get("/accounts/login/")
            assert login.status_code == 200
            token = http.cookies["csrftoken"]
            home = http.post(
                "/accounts/login/",
                data={"username": "demo", "password": "demo", "csrfmiddlewaretoken": token},
                headers={"Referer": f"{base}/accounts/login/"},
            )
            assert home.status_code == 200
            assert "Demo project" in home.text
            assert "EVALUATIONS" in home.text
            # The seeded demo runs leave their (already done) planning messages queued: the
            # fresh cluster's first heartbeat and pass over them make the check ok.
            wait_until(
                lambda: http.get("/healthz").json()["status"] == "ok",
                timeout=60,
                message=f"/healthz to be ok\n{cluster.log()}",
            )
            assert http.get("/static/css/evalsite.css").status_code == 200

        task_id = async_task("math.sqrt", 16.0)
        wait_until(
            lambda: Task.objects.filter(id=task_id).exists(),
            timeout=60,
            message=f"the django-q2 task to finish\n{cluster.log()}",
        )
        task = Task.objects.get(id=task_id)
        assert task.success and task.result == 4.0
