import pytest
from django.core.exceptions import ValidationError

from workflows import secrets
from workflows.outbound import check_url


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://169.254.10.1/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_it_always_refuses_link_local_and_metadata_addresses(url, settings):
    settings.EVALSITE_ALLOW_PRIVATE_NETWORKS = True
    settings.EVALSITE_ALLOW_LOOPBACK = True
    with pytest.raises(ValidationError):
        check_url(url)


def test_it_allows_loopback_only_when_the_setting_does(settings):
    settings.EVALSITE_ALLOW_LOOPBACK = True
    check_url("http://127.0.0.1:8000/x")
    check_url("http://localhost/")
    settings.EVALSITE_ALLOW_LOOPBACK = False
    with pytest.raises(ValidationError, match="loopback"):
        check_url("http://127.0.0.1:8000/x")
    with pytest.raises(ValidationError, match="loopback"):
        check_url("http://localhost/")


def test_it_allows_private_ranges_only_when_the_setting_does(settings):
    with pytest.raises(ValidationError, match="private"):
        check_url("http://10.1.2.3/")
    settings.EVALSITE_ALLOW_PRIVATE_NETWORKS = True
    check_url("http://10.1.2.3/")
    check_url("http://192.168.0.7/")


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///x", "x"])
def test_it_refuses_other_schemes_and_hostless_urls(url):
    with pytest.raises(ValidationError):
        check_url(url)


def test_a_refused_url_is_reported_by_the_executor_without_a_call(make_workflow, settings):
    from tests.workflows.conftest import http_config, run_once

    workflow = make_workflow(config=http_config("http://127.0.0.1:9/"))
    settings.EVALSITE_ALLOW_LOOPBACK = False
    result = run_once(workflow.latest_version(), {"question": "q"})
    assert "loopback" in result.error


def test_secrets_round_trip_and_resolve_env_refs(monkeypatch):
    token = secrets.encrypt("s3cret")
    assert "s3cret" not in token
    assert secrets.decrypt(token) == "s3cret"
    assert secrets.resolve({"encrypted": token}) == "s3cret"
    monkeypatch.setenv("EVALSITE_SECRET_SOME_KEY", "from-env")
    assert secrets.resolve({"env": "EVALSITE_SECRET_SOME_KEY"}) == "from-env"
    with pytest.raises(ValidationError):
        secrets.resolve({"env": "NOT_SET_ANYWHERE_123"})
    with pytest.raises(ValidationError):
        secrets.decrypt("garbage")
