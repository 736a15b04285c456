from tests.workflows.conftest import http_config
from tests.workflows.fake_servers import FakeServer, echo_agent
from workflows.models import Workflow

SECRET = "Bearer ui-secret-777"


def _url(project, suffix=""):
    return f"/projects/{project.id}/workflows/{suffix}"


def _http_form(server_url, **extra):
    data = {
        "name": "UI agent",
        "description": "",
        "inputs": "question: the question",
        "outputs": "answer: the answer",
        "url": server_url,
        "method": "POST",
        "headers": f"Authorization: {SECRET}\nX-Plain: hello",
        "body_template": '{"question": "{{question}}"}',
        "output_paths": "answer: $.answer",
        "input_tokens_path": "$.usage.input_tokens",
        "chunks_path": "$.chunks",
        "spans_path": "$.spans",
        "timeout_s": "5",
        "max_retries": "1",
        "max_concurrency": "4",
    }
    data.update(extra)
    return data


def test_it_lists_workflows(web, project, make_workflow):
    make_workflow(config=http_config("http://127.0.0.1:9/"), name="Listed agent")
    response = web.get(_url(project))
    assert response.status_code == 200
    assert "Listed agent" in response.content.decode()


def test_it_creates_an_http_workflow_and_never_shows_its_secret(web, project):
    response = web.post(_url(project, "new/?kind=http"), _http_form("http://127.0.0.1:9/a"))
    assert response.status_code == 302
    workflow = Workflow.objects.get(name="UI agent")
    config = workflow.latest_version().config
    assert "encrypted" in config["headers"]["Authorization"]
    assert config["headers"]["X-Plain"] == "hello"
    for page in (response.url, _url(project, f"{workflow.pk}/edit/"), _url(project)):
        assert "ui-secret-777" not in web.get(page).content.decode()


def test_it_shows_field_errors_for_a_bad_config(web, project):
    form = _http_form("http://169.254.169.254/", output_paths="answer: not-a-path")
    response = web.post(_url(project, "new/?kind=http"), form)
    assert response.status_code == 200
    page = response.content.decode()
    assert "cloud metadata address" in page
    assert "is not a JSONPath" in page
    assert not Workflow.objects.exists()


def test_editing_makes_a_new_version_and_keeps_the_secret(web, project):
    web.post(_url(project, "new/?kind=http"), _http_form("http://127.0.0.1:9/a"))
    workflow = Workflow.objects.get(name="UI agent")
    edit = web.get(_url(project, f"{workflow.pk}/edit/")).content.decode()
    assert "Authorization: ********" in edit
    form = _http_form("http://127.0.0.1:9/b", headers="Authorization: ********")
    response = web.post(_url(project, f"{workflow.pk}/edit/"), form)
    assert response.status_code == 302
    v1, v2 = workflow.versions.order_by("number")
    assert v2.number == 2
    assert v2.config["url"].endswith("/b")
    assert v2.config["headers"]["Authorization"] == v1.config["headers"]["Authorization"]
    detail = web.get(response.url).content.decode()
    assert "Version 2" in detail
    assert "ui-secret-777" not in detail


def test_try_it_runs_an_input_and_shows_the_result(web, project):
    with FakeServer(echo_agent()) as server:
        web.post(_url(project, "new/?kind=http"), _http_form(server.url))
        workflow = Workflow.objects.get(name="UI agent")
        version = workflow.latest_version()
        response = web.post(
            _url(project, f"{workflow.pk}/try/"),
            {"version": str(version.pk), "in_question": "ping"},
            HTTP_HX_REQUEST="true",
        )
        sent = server.requests[0].headers["Authorization"]
    page = response.content.decode()
    assert response.status_code == 200
    assert "echo: ping" in page
    assert "chunk text" in page
    assert "TRACE_SPAN_TYPE_LLM" in page
    assert "<html" not in page  # the fragment only
    assert sent == SECRET
    assert "ui-secret-777" not in page


def test_delete_marks_the_workflow_deleted(web, project, make_workflow):
    workflow = make_workflow(config=http_config("http://127.0.0.1:9/"))
    response = web.post(_url(project, f"{workflow.pk}/delete/"))
    assert response.status_code == 302
    workflow.refresh_from_db()
    assert workflow.is_deleted
    assert workflow.versions.count() == 1


def test_viewers_and_outsiders_cannot_change_workflows(
    viewer_web, outsider_web, project, make_workflow
):
    workflow = make_workflow(config=http_config("http://127.0.0.1:9/"))
    assert viewer_web.get(_url(project, f"{workflow.pk}/")).status_code == 200
    assert viewer_web.post(_url(project, f"{workflow.pk}/delete/")).status_code == 403
    assert viewer_web.get(_url(project, "new/")).status_code == 403
    assert outsider_web.get(_url(project, f"{workflow.pk}/")).status_code == 404


def test_the_admin_never_shows_a_secret(client, project, make_workflow, django_user_model):
    config = http_config("http://127.0.0.1:9/", headers={"X-Api-Key": {"secret": "adm-secret-5"}})
    workflow = make_workflow(config=config)
    version = workflow.latest_version()
    admin_user = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(admin_user)
    for url in (
        f"/admin/workflows/workflowversion/{version.pk}/change/",
        f"/admin/workflows/workflow/{workflow.pk}/change/",
        "/admin/workflows/workflowversion/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert "adm-secret-5" not in response.content.decode()
