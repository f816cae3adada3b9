"""Fixtures and hooks only; what tests share besides fixtures lives in helpers.py."""

from __future__ import annotations

import os

import pytest

from helpers import ICECAT_MAP, ICECAT_SLICE, REQUIRE_SUITES_VAR, SUITE_PROGRAMS, required_suites
from shopsearch import Engine
from shopsearch.index.ingest import BadRecord, FieldMapping, read_items


@pytest.fixture(scope="session", autouse=True)
def private_model_cache(tmp_path_factory):
    """Exported ONNX graphs go to a per-run folder (servers started by tests inherit it), not ~/.cache."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(scope="session")
def embedder():
    """The real default model, loaded once per test session."""
    from shopsearch.models.e5_onnx import E5SmallEmbedder

    return E5SmallEmbedder(threads=1)


@pytest.fixture(scope="session")
def icecat_items():
    items = [it for _, it in read_items([ICECAT_SLICE], FieldMapping.parse(ICECAT_MAP, 0.01))]
    assert not any(isinstance(it, BadRecord) for it in items)
    return items


@pytest.fixture
def open_engine(tmp_path, embedder):
    opened = []

    def _open(path=None, **kwargs):
        kwargs.setdefault("embedder", embedder)
        engine = Engine.open(path or tmp_path / "data", **kwargs)
        opened.append(engine)
        return engine

    yield _open
    for engine in opened:
        engine.close()  # closing twice is harmless


@pytest.fixture
def icecat_engine(open_engine, icecat_items):
    engine = open_engine()
    engine.upsert(icecat_items)
    return engine


# -- suites that need a program: skipped for developers without it, a failure where CI installed it --

def pytest_configure(config):
    markers = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    unknown = required_suites(os.environ) - markers
    if unknown:
        raise pytest.UsageError(f"{REQUIRE_SUITES_VAR} names {', '.join(sorted(unknown))}, which is not a registered "
                                f"marker (pyproject.toml [tool.pytest.ini_options] markers)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip of a test whose suite SHOPSEARCH_REQUIRE_SUITES lists becomes a failure naming the missing program."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    suites = sorted(required_suites(os.environ) & {mark.name for mark in item.iter_markers()})
    if not suites:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    programs = "; ".join(f"{SUITE_PROGRAMS.get(suite, 'its program')}" for suite in suites)
    report.outcome = "failed"
    report.longrepr = (f"the {', '.join(suites)} suite must not skip: {REQUIRE_SUITES_VAR}={os.environ[REQUIRE_SUITES_VAR]} "
                       f"says .ci/run installed its program, {programs}, but it is missing here. "
                       f"The test skipped with: {reason}")
