"""Settings read from the environment: bad values fail loudly, production is `check --deploy` clean."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from echo.settings import envbool, envint, envlist, mysql_database

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = ROOT / "deploy" / "production" / "echo.env.example"


def production_env() -> dict[str, str]:
    """deploy/production/echo.env.example with its placeholders filled in."""
    env = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value.removeprefix('"').removesuffix('"')
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env["ECHO_RTMP_CALLBACK_SECRET"] = secrets.token_urlsafe(32)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only PATH from this process: the test run's own settings must not leak in.
    env = {"PATH": os.environ["PATH"], **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("value", ["1", "true", "Yes", " on "])
def test_envbool_reads_true(monkeypatch, value):
    monkeypatch.setenv("ECHO_TEST_FLAG", value)
    assert envbool("ECHO_TEST_FLAG", "false") is True


@pytest.mark.parametrize("value", ["0", "false", "No", "off", ""])
def test_envbool_reads_false(monkeypatch, value):
    monkeypatch.setenv("ECHO_TEST_FLAG", value)
    assert envbool("ECHO_TEST_FLAG", "true") is False


def test_envbool_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("ECHO_TEST_FLAG", raising=False)
    assert envbool("ECHO_TEST_FLAG", "true") is True


def test_envbool_rejects_anything_else(monkeypatch):
    monkeypatch.setenv("ECHO_TEST_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="ECHO_TEST_FLAG"):
        envbool("ECHO_TEST_FLAG", "false")


def test_envint_reads_integers(monkeypatch):
    monkeypatch.setenv("ECHO_TEST_NUMBER", "3306")
    assert envint("ECHO_TEST_NUMBER", "0") == 3306


@pytest.mark.parametrize("value", ["", "8000s", "1.5", "eighty"])
def test_envint_rejects_non_integers(monkeypatch, value):
    monkeypatch.setenv("ECHO_TEST_NUMBER", value)
    with pytest.raises(ImproperlyConfigured, match="ECHO_TEST_NUMBER"):
        envint("ECHO_TEST_NUMBER", "0")


def test_envlist_drops_blanks_and_spaces(monkeypatch):
    monkeypatch.setenv("ECHO_TEST_LIST", " example.com, ,127.0.0.1 ,")
    assert envlist("ECHO_TEST_LIST", "") == ["example.com", "127.0.0.1"]


def test_mysql_database_parses_a_full_url():
    database = mysql_database("mysql://echo:p%40ss%2Fword@db.internal:3307/echo_prod")
    assert database["ENGINE"] == "django.db.backends.mysql"
    assert database["NAME"] == "echo_prod"
    assert database["USER"] == "echo"
    assert database["PASSWORD"] == "p@ss/word"
    assert database["HOST"] == "db.internal"
    assert database["PORT"] == "3307"


def test_mysql_database_accepts_mariadb_and_no_port():
    database = mysql_database("mariadb://echo@localhost/echo")
    assert database["PORT"] == ""
    assert database["PASSWORD"] == ""


@pytest.mark.parametrize(
    "url",
    [
        "postgres://echo:pw@localhost/echo",
        "mysql://echo:pw@localhost",
        "mysql://echo:pw@localhost/",
        "mysql://echo:pw@localhost:port/echo",
    ],
)
def test_mysql_database_rejects_bad_urls(url):
    with pytest.raises(ImproperlyConfigured):
        mysql_database(url)


def test_production_settings_pass_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_a_development_key_even_when_asked_for_one():
    # A published SECRET_KEY lets anyone forge e-mail confirmation and unsubscribe links.
    env = {**production_env(), "ECHO_INSECURE_DEV_KEY": "true"}
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_falls_back_to_a_development_key_that_check_deploy_flags():
    result = manage("check", "--deploy", env={"DEBUG": "true"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "security.W009" in output  # the key
    assert "security.W018" in output  # DEBUG itself


def test_production_rejects_a_bad_boolean_by_name():
    env = {**production_env(), "SECURE_SSL_REDIRECT": "sometimes"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stderr


def test_production_env_points_django_at_nginx_on_this_host():
    env = production_env()
    assert env["ECHO_NGINX_CONTROL_URL"] == "http://127.0.0.1:8099"
    assert env["ECHO_HLS_PATH"] == "/var/lib/echo/hls"


def test_production_redirects_pages_to_https_but_never_callbacks():
    # A 3xx answer to on_publish would rename the stream instead of refusing it.
    script = (
        "from django.test import Client\n"
        "client = Client(HTTP_HOST='127.0.0.1')\n"
        "callback = client.post('/internal/rtmp/on-publish?secret=wrong', {'app': 'ingest'})\n"
        "page = client.get('/accounts/login/')\n"
        "print('statuses', callback.status_code, page.status_code)\n"
    )
    result = manage("shell", "-v", "0", "-c", script, env=production_env())
    assert result.returncode == 0, result.stderr
    _, callback_status, page_status = result.stdout.split()
    assert callback_status == "403"
    assert page_status == "301"


@pytest.mark.parametrize(
    "name, value",
    [
        ("ECHO_TRUSTED_PROXIES", "-1"),
        ("ECHO_TRANSCODE_MAX", "-1"),
        ("ECHO_TRANSCODE_BEHIND_SECONDS", "0"),
    ],
)
def test_production_rejects_a_count_out_of_range_by_name(name, value):
    result = manage("check", env={**production_env(), name: value})
    assert result.returncode != 0
    assert name in result.stderr


@pytest.mark.parametrize(
    "edges",
    [
        "edge1.example.com/hls/",
        "https://edge1.example.com/hls",
        "javascript:alert(1)//",
        'https://e/"x/',
    ],
)
def test_production_rejects_an_edge_url_that_is_not_a_base_url(edges):
    result = manage("check", env={**production_env(), "ECHO_HLS_EDGE_URLS": edges})
    assert result.returncode != 0
    assert "ECHO_HLS_EDGE_URLS" in result.stderr


def test_production_accepts_several_edges():
    edges = "https://edge1.example.com/hls/,https://edge2.example.com:8443/hls/"
    result = manage("check", env={**production_env(), "ECHO_HLS_EDGE_URLS": edges})
    assert result.returncode == 0, result.stderr
