"""./echotv and .ci/run: the shell scripts a fresh clone is set up, tested and run with.
The management commands they and the production units run: tests/test_commands.py."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", ["echotv", ".ci/run"])
def test_the_shell_scripts_parse(script):
    subprocess.run(["bash", "-n", str(ROOT / script)], check=True)


def test_echotv_explains_itself_and_refuses_unknown_commands():
    shown = subprocess.run([ROOT / "echotv", "help"], capture_output=True, text=True)
    assert shown.returncode == 0
    assert "./echotv run" in shown.stderr and "./echotv test" in shown.stderr
    unknown = subprocess.run([ROOT / "echotv", "deploy"], capture_output=True, text=True)
    assert unknown.returncode == 2


def test_echotv_test_fails_when_pytest_collects_nothing():
    # Setup is already done (this test runs under ./echotv test), so this is quick.
    result = subprocess.run(
        [ROOT / "echotv", "test", "tests/test_settings.py", "-k", "no_test_has_this_name"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "collected no tests" in result.stderr
