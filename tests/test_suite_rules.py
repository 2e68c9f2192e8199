"""The suite's own rules, from tests/conftest.py: a template that prints a missing variable
fails its test, and a skip that is not on ALLOWED_SKIPS fails the run. The runs here are
real pytest subprocesses with tests/conftest.py loaded, on tiny test files."""

import re
from pathlib import Path

import pytest
from django.template import engines

from tests.conftest import ALLOWED_SKIPS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = """
import pytest

def test_passes():
    pass

def test_skipped():
    pytest.skip("no reason anyone wrote down")

@pytest.mark.xfail(strict=True, reason="a known bug")
def test_known_bug():
    assert False
"""


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


# --- skips -------------------------------------------------------------------------


def test_an_unlisted_skip_fails_a_run_that_otherwise_passes(run, pytester):
    pytester.makepyfile(test_sample=SAMPLE)

    result = run()

    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*skips not on ALLOWED_SKIPS in tests/conftest.py*",
            "test_sample.py::test_skipped: Skipped: no reason anyone wrote down",
        ]
    )
    assert "test_known_bug:" not in result.stdout.str()  # an xfail is no skip


def test_a_skip_on_the_allow_list_passes(run, pytester):
    pytester.makepyfile(test_sample=SAMPLE)
    pytester.makeconftest(
        """
        def pytest_sessionstart(session):
            guard = session.config.pluginmanager.get_plugin("echo-skip-guard")
            guard.allowed.add("test_sample.py::test_skipped")
        """
    )

    result = run()

    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_deselecting_tests_with_k_is_not_a_skip(run, pytester):
    pytester.makepyfile(test_sample=SAMPLE)

    result = run("-k", "not test_skipped")

    result.assert_outcomes(passed=1, xfailed=1, deselected=1)
    assert result.ret == pytest.ExitCode.OK


def test_a_skip_of_a_whole_module_fails_the_run(run, pytester):
    pytester.makepyfile(
        test_module="""
        import pytest

        pytest.skip("not today", allow_module_level=True)
        """,
        test_other="def test_passes(): pass",
    )

    result = run()

    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["test_module.py: Skipped: not today"])


def test_every_allowed_skip_names_an_existing_test():
    # A loop, not parametrize: an empty allow-list would make a skipped test of its own.
    for node_id in sorted(ALLOWED_SKIPS):
        path, name = node_id.split("::")
        assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.MULTILINE), node_id
