"""The suite policy in conftest.py: where SHOPSEARCH_REQUIRE_SUITES lists a suite (.ci/run installed its
program), a skip of a test carrying that marker is a failure; any other skip stays a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def run_inner(pytester, request, monkeypatch):
    """Runs pytest in pytester's folder with this suite's conftest.py as a plugin and its marker registration."""
    plugin = request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    assert plugin is not None, "tests/conftest.py is not registered under its path"
    addopts = " ".join(request.config.getini("addopts"))
    markers = "".join(f"\n    {line}" for line in request.config.getini("markers"))
    pytester.makeini(f"[pytest]\naddopts = {addopts} -p no:cacheprovider\nmarkers ={markers}\n")

    def run(source: str, require: str | None):
        if require is None:
            monkeypatch.delenv("SHOPSEARCH_REQUIRE_SUITES", raising=False)
        else:
            monkeypatch.setenv("SHOPSEARCH_REQUIRE_SUITES", require)
        pytester.makepyfile(test_inner=source)
        return pytester.runpytest(plugins=[plugin])

    return run


REDIS_SUITE = '''
import pytest

pytestmark = pytest.mark.redis


def test_skips_in_its_body():
    pytest.skip("redis-server is not installed and apt-get could not install it")


@pytest.mark.skipif(True, reason="the redis client is not installed")
def test_skips_by_its_mark():
    pass


@pytest.mark.xfail(reason="a known bug, not a missing program")
def test_expected_to_fail():
    assert False
'''


def test_a_skip_in_a_required_suite_is_a_failure_that_names_the_program(run_inner):
    result = run_inner(REDIS_SUITE, require="ui,redis,milvus")
    # The skip inside the test fails it; the mark's skip comes at setup, so pytest counts an error.
    result.assert_outcomes(failed=1, errors=1, xfailed=1)
    result.stdout.fnmatch_lines([
        "*the redis suite must not skip: SHOPSEARCH_REQUIRE_SUITES=ui,redis,milvus says .ci/run installed its "
        "program, redis-server (apt-get install redis-server)*but it is missing here. "
        "The test skipped with: redis-server is not installed and apt-get could not install it",
    ])
    result.stdout.fnmatch_lines(["*The test skipped with: the redis client is not installed"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("require", [None, "ui,milvus"])
def test_a_skip_in_a_suite_not_required_stays_a_skip_with_its_reason(run_inner, require):
    result = run_inner(REDIS_SUITE, require=require)
    result.assert_outcomes(skipped=2, xfailed=1)
    result.stdout.fnmatch_lines(["SKIPPED * redis-server is not installed and apt-get could not install it",
                                 "SKIPPED * the redis client is not installed"], consecutive=False)
    assert "must not skip" not in result.stdout.str() and result.ret == pytest.ExitCode.OK


def test_an_unknown_suite_name_is_a_usage_error(run_inner):
    result = run_inner(REDIS_SUITE, require="redis,chromium")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*SHOPSEARCH_REQUIRE_SUITES names chromium, which is not a registered marker*"])
