"""The outbound layer refuses what an attacker with an editor's account would aim it at, and
checks the address of every connection it actually makes (DNS rebinding, redirects)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
import sys

import httpx
import pytest
from django.core.exceptions import ValidationError

from evalsite.outbound import guard, templating, transport
from evalsite.outbound.transport import OutboundRefused, new_client
from metrics import judge
from metrics import services as metric_services
from metrics.scoring import build_scorer
from tests.metrics.fake_openai import fake_openai_server
from tests.support.processes import ROOT
from tests.workflows.conftest import ANSWER_OUT, QUESTION_IN, http_config, run_once
from tests.workflows.fake_servers import FakeServer, Reply, echo_agent
from workflows import services
from workflows.executors import build_executor

ALWAYS_REFUSED = [
    "169.254.169.254",  # metadata
    "169.254.170.2",
    "100.100.100.200",  # Alibaba metadata, inside CGNAT
    "fd00:ec2::254",
    "169.254.1.1",  # link-local
    "fe80::1",
    "::ffff:169.254.169.254",  # IPv4-mapped metadata
    "2002:a9fe:a9fe::1",  # 6to4 embedding 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 embedding 169.254.169.254
    "::a9fe:a9fe",  # IPv4-compatible
    "0.0.0.0",  # noqa: S104 (an address to refuse, not to bind)
    "::",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.10",  # documentation
    "2001:db8::1",
    "198.18.0.1",  # benchmarking
    "192.88.99.1",  # 6to4 relay
    "2001::1",  # Teredo
    "64:ff9b:1::1",  # local-use NAT64
    "100::1",  # discard-only
]
PRIVATE = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "::ffff:10.0.0.1",
    "2002:0a00:0001::1",  # 6to4 embedding 10.0.0.1
    "64:ff9b::a00:1",  # NAT64 embedding 10.0.0.1
]
LOOPBACK = ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "2002:7f00:0001::1"]
PUBLIC = ["93.184.216.34", "2606:4700:4700::1111", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"]


def _url(address: str) -> str:
    return f"http://[{address}]/" if ":" in address else f"http://{address}/"


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_special_purpose_addresses_are_always_refused(address, settings):
    settings.EVALSITE_ALLOW_LOOPBACK = True
    settings.EVALSITE_ALLOW_PRIVATE_NETWORKS = True
    assert guard.address_problem(address)
    with pytest.raises(ValidationError, match="Refusing"):
        guard.check_url(_url(address))


@pytest.mark.parametrize("address", PRIVATE)
def test_private_ranges_including_cgnat_need_the_private_setting(address, settings):
    settings.EVALSITE_ALLOW_PRIVATE_NETWORKS = False
    assert "private" in guard.address_problem(address)
    settings.EVALSITE_ALLOW_PRIVATE_NETWORKS = True
    assert guard.address_problem(address) is None


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_v4_and_v6_are_treated_alike(address, settings):
    settings.EVALSITE_ALLOW_LOOPBACK = False
    assert "loopback" in guard.address_problem(address)
    settings.EVALSITE_ALLOW_LOOPBACK = True
    assert guard.address_problem(address) is None
    guard.check_url(_url(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address, settings):
    settings.EVALSITE_ALLOW_LOOPBACK = False
    assert guard.address_problem(address) is None


def test_credentials_in_the_url_are_refused():
    with pytest.raises(ValidationError, match="credentials"):
        guard.check_url("http://user:pw@93.184.216.34/")


def test_loopback_is_off_by_default_in_the_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALSITE_ALLOW")}
    env.update(EVALSITE_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="evalsite.settings")
    env.pop("DATABASE_URL", None)
    code = "import django; django.setup(); from django.conf import settings as s;"
    code += "print(s.EVALSITE_ALLOW_LOOPBACK, s.EVALSITE_ALLOW_PRIVATE_NETWORKS)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_scripts_run_allows_only_the_demo_agents_port_and_scripts_test_all_loopback():
    run = (ROOT / "scripts" / "run").read_text()
    assert 'EVALSITE_ALLOW_LOOPBACK_PORTS="${EVALSITE_ALLOW_LOOPBACK_PORTS:-${PORT:-8000}}"' in run
    assert "EVALSITE_ALLOW_LOOPBACK=" not in run
    assert (
        'EVALSITE_ALLOW_LOOPBACK="${EVALSITE_ALLOW_LOOPBACK:-1}"'
        in (ROOT / "scripts" / "test").read_text()
    )


def test_the_loopback_port_setting_is_read_from_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALSITE_ALLOW")}
    env.update(EVALSITE_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="evalsite.settings")
    env.pop("DATABASE_URL", None)
    code = "import django; django.setup(); from django.conf import settings as s;"
    code += "print(s.EVALSITE_ALLOW_LOOPBACK, s.EVALSITE_ALLOW_LOOPBACK_PORTS)"

    def read(**extra):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
        )
        return result.returncode, result.stdout.strip(), result.stderr

    assert read()[:2] == (0, "False []")
    assert read(EVALSITE_ALLOW_LOOPBACK_PORTS="8000, 8001")[:2] == (0, "False [8000, 8001]")
    code_, _, stderr = read(EVALSITE_ALLOW_LOOPBACK_PORTS="http")
    assert code_ != 0 and "EVALSITE_ALLOW_LOOPBACK_PORTS" in stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "127.0.0.2"])
def test_an_allowed_loopback_port_opens_that_port_only(host, settings):
    settings.EVALSITE_ALLOW_LOOPBACK = False
    settings.EVALSITE_ALLOW_LOOPBACK_PORTS = [8000]
    guard.check_url(f"http://{host}:8000/demo-agent/answer")
    for url in (f"http://{host}:8001/", f"http://{host}/", f"https://{host}/"):
        with pytest.raises(ValidationError, match="loopback"):
            guard.check_url(url)
    settings.EVALSITE_ALLOW_LOOPBACK_PORTS = [80]
    guard.check_url(f"http://{host}/")  # the scheme's default port
    with pytest.raises(ValidationError, match="private"):
        guard.check_url("http://10.0.0.1:80/")  # loopback only, not private ranges


@pytest.mark.django_db(transaction=True)
def test_with_only_the_demo_agents_port_allowed_the_demo_runs_and_other_loopback_is_refused(
    live_server, settings, project, owner
):
    """What ``scripts/run`` sets: the demo is seeded and its HTTP agent (this app, on its own
    port) is called; an agent on another loopback port is refused when saved and when
    connecting."""
    from urllib.parse import urlsplit

    from projects.demo import seed_demo
    from workflows.demo import HTTP_NAME
    from workflows.models import Workflow

    settings.EVALSITE_PUBLIC_URL = live_server.url
    with FakeServer(echo_agent()) as server:
        settings.EVALSITE_ALLOW_LOOPBACK = True  # while the other agent is saved
        other = services.workflow_create(
            project=project,
            user=owner,
            name="Local",
            kind="http",
            config=http_config(server.url),
            inputs=QUESTION_IN,
            outputs=ANSWER_OUT,
        )
        settings.EVALSITE_ALLOW_LOOPBACK = False
        settings.EVALSITE_ALLOW_LOOPBACK_PORTS = [urlsplit(live_server.url).port]

        demo_project, lines = seed_demo()
        assert not [line for line in lines if line.startswith("skipped")], lines
        demo = Workflow.objects.get(project=demo_project, name=HTTP_NAME)
        result = run_once(demo.latest_version(), {"question": "Which Wi-Fi bands work?"})
        assert result.error is None, result.error
        assert "2.4 GHz" in result.outputs["answer"]

        refused = run_once(other.latest_version(), {"question": "q"})
        assert refused.error and "loopback" in refused.error
        assert server.requests == []
        with pytest.raises(ValidationError) as info:
            services.workflow_create(
                project=project,
                user=owner,
                name="Again",
                kind="http",
                config=http_config(server.url),
                inputs=QUESTION_IN,
                outputs=ANSWER_OUT,
            )
        assert "url" in info.value.message_dict


def test_the_transport_checks_the_port_of_every_connection(settings):
    """The connect-time check (not only the save-time one) knows the port."""
    with FakeServer(echo_agent()) as allowed, FakeServer(echo_agent()) as other:
        settings.EVALSITE_ALLOW_LOOPBACK = False
        settings.EVALSITE_ALLOW_LOOPBACK_PORTS = [allowed.port]

        async def go(url):
            async with new_client() as client:
                return await client.post(url, json={"question": "q"})

        assert asyncio.run(go(allowed.url)).status_code == 200
        with pytest.raises(OutboundRefused, match="loopback"):
            asyncio.run(go(other.url))
        assert len(allowed.requests) == 1 and other.requests == []


def test_a_saved_url_in_cgnat_or_6to4_is_a_field_error(project, owner):
    for url in ("http://100.64.1.2/", "http://[2002:a9fe:a9fe::1]/"):
        with pytest.raises(ValidationError) as info:
            services.workflow_create(
                project=project, user=owner, name="x", kind="http", config=http_config(url)
            )
        assert "url" in info.value.message_dict


def test_the_address_is_checked_when_connecting_not_only_when_built(make_workflow, settings):
    with FakeServer(echo_agent()) as server:
        workflow = make_workflow(config=http_config(server.url))
        executor = build_executor(workflow.latest_version())  # built while loopback allowed
        settings.EVALSITE_ALLOW_LOOPBACK = False
        result = run_once(workflow.latest_version(), {"question": "q"}, executor=executor)
        assert result.error and "loopback" in result.error
        assert "after" not in result.error  # a refusal is not retried
        assert server.requests == []


def test_dns_rebinding_between_connections_is_refused(make_workflow, monkeypatch):
    """The name answers 127.0.0.1 for the first connection and the metadata address for the
    next: the second connection is refused before any byte is sent."""
    answers = []

    async def rebinding_resolver(host, port):
        answers.append(host)
        return ["127.0.0.1"] if len(answers) == 1 else ["169.254.169.254"]

    monkeypatch.setattr(transport, "resolve_host", rebinding_resolver)
    # The save-time courtesy check resolves too; it is not what this test is about.
    monkeypatch.setattr(guard, "resolve", lambda host, port: [ipaddress.ip_address("127.0.0.1")])
    reply = Reply(json={"answer": "ok"}, headers={"Connection": "close"})
    with FakeServer(lambda request: reply) as server:
        url = f"http://rebind.evalsite.test:{server.port}/agent"
        workflow = make_workflow(config=http_config(url, max_retries=0))
        version = workflow.latest_version()
        executor = build_executor(version)

        async def twice():
            async with new_client() as client:
                first = await executor.run({"question": "a"}, client=client)
                second = await executor.run({"question": "b"}, client=client)
                return first, second

        first, second = asyncio.run(twice())
    assert first.error is None and first.outputs == {"answer": "ok"}
    assert second.error and "169.254.169.254 is a cloud metadata address" in second.error
    assert answers == ["rebind.evalsite.test", "rebind.evalsite.test"]
    assert len(server.requests) == 1


def test_a_redirect_to_the_metadata_address_is_refused_on_connect():
    reply = Reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with FakeServer(lambda request: reply) as server:

        async def go():
            async with new_client() as client:
                return await client.get(server.url, follow_redirects=True)

        with pytest.raises(OutboundRefused, match="metadata"):
            asyncio.run(go())


def test_executors_do_not_follow_redirects(make_workflow):
    reply = Reply(302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    with FakeServer(lambda request: reply) as server:
        workflow = make_workflow(config=http_config(server.url))
        result = run_once(workflow.latest_version(), {"question": "q"})
    assert "redirect" in result.error and "not followed" in result.error


def test_the_judge_goes_through_the_same_guard(project, owner, settings):
    with fake_openai_server() as fake:
        fake.reply('{"score": 1}')
        metric = metric_services.metric_create(
            project=project,
            user=owner,
            name="Judge",
            implementation="llm_judge",
            params={"preset": "correctness", "base_url": fake.url, "model": "m"},
        )
        scorer = build_scorer(metric.latest_version())
        settings.EVALSITE_ALLOW_LOOPBACK = False
        outcome = scorer.score({"expected": "a", "response": "b"})
        assert outcome.number_value is None and "loopback" in outcome.error_description
        assert fake.requests == []


def test_an_unguarded_client_would_have_connected():
    """Control for the tests above: the refusal comes from the guarded transport."""
    with FakeServer(echo_agent()) as server:

        async def go():
            async with httpx.AsyncClient() as client:
                return await client.post(server.url, json={"question": "q"})

        assert asyncio.run(go()).status_code == 200


def test_the_demo_seed_skips_the_loopback_agent_when_loopback_is_refused(project, owner, settings):
    from workflows import demo
    from workflows.models import Workflow

    settings.EVALSITE_ALLOW_LOOPBACK = False
    lines = demo.seed(project=project, user=owner)
    assert any(line.startswith(f"skipped workflow {demo.HTTP_NAME}") for line in lines)
    assert "loopback" in " ".join(lines)
    assert Workflow.objects.filter(project=project, name=demo.PYTHON_NAME).exists()
    assert not Workflow.objects.filter(project=project, name=demo.HTTP_NAME).exists()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3"),
        (-2.0, "-2"),
        (3.5, "3.5"),
        (7, "7"),
        (None, ""),
        (True, "true"),
        ("naïve {{x}}", "naïve {{x}}"),  # a value is not rendered again
        ({"é": [1, 2.0]}, '{"é": [1, 2.0]}'),
    ],
)
def test_the_one_rendering_rule(value, text):
    assert templating.text_of(value) == text
    assert templating.render_text("<{{ v }}>", {"v": value}) == f"<{text}>"


def test_missing_and_none_render_empty_unless_the_caller_gives_a_stand_in():
    assert templating.render_text("a{{gone}}b{{none}}c", {"none": None}) == "abc"
    assert templating.render_text("{{none}}", {"none": None}, missing="-") == "-"
    assert judge.render("{{n}} / {{none}}", {"n": 3.0, "none": None}) == "3 / (not provided)"


def test_agents_get_the_rule_in_text_and_the_value_itself_alone(make_workflow):
    """Through the HTTP executor: text placeholders follow the rule, a string that is one
    placeholder keeps the value's JSON type."""
    inputs = [{"name": n, "description": "", "required": False} for n in ("n", "none")]
    body = {"text": "n={{n}} none={{none}}.", "n": "{{n}}", "none": "{{none}}"}
    with FakeServer(echo_agent()) as server:
        workflow = make_workflow(config=http_config(server.url, body_template=body), inputs=inputs)
        run_once(workflow.latest_version(), {"n": 3.0, "none": None})
    [request] = server.requests
    assert request.json == {"text": "n=3 none=.", "n": 3.0, "none": None}
