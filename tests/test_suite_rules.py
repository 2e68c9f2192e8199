"""The suite's own rules, from tests/conftest.py: a template that prints a missing variable
fails its test. The runs here are real pytest subprocesses with tests/conftest.py loaded,
on tiny test files."""

from pathlib import Path

import pytest
from django.template import engines

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(pytester, monkeypatch):
    """run(*args): pytest in a subprocess on pytester's files, with tests/conftest.py."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))

    def run_pytest(*args: str):
        return pytester.runpytest_subprocess(
            "-p", "tests.conftest", "--ds=echo.settings", "-p", "no:cacheprovider", *args
        )

    return run_pytest


def missing_variables() -> list[str]:
    return engines["django"].engine.string_if_invalid.names


def render(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


# --- templates ---------------------------------------------------------------------


def test_a_missing_variable_in_output_is_recorded_by_name():
    page = render("<title>{{ channel.streamer.public_name }}</title>", channel={"user": "a"})

    assert missing_variables() == ["channel.streamer.public_name"]
    missing_variables().clear()  # printed on purpose: this test's teardown must pass
    assert page == "<title>[missing template variable channel.streamer.public_name]</title>"


def test_if_and_for_on_falsy_or_missing_values_record_nothing():
    page = render(
        "{% if broadcast %}live{% endif %}{% if nobody %}x{% endif %}"
        "{% for past in nothing %}{{ past }}{% empty %}none {% endfor %}{{ zero }} [{{ blank }}]",
        broadcast=None,
        zero=0,
        blank="",
    )

    assert page == "none 0 []"
    assert missing_variables() == []


def test_a_test_whose_template_prints_a_missing_variable_fails(run, pytester):
    pytester.makepyfile(
        test_page="""
        from django.template import engines

        def test_renders_a_typo():
            engines["django"].from_string("{{ chanel.title }}").render({})
        """
    )

    result = run()

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_renders_a_typo*", "*does not exist: chanel.title*"]
    )
