"""A bounded schemathesis run against /openapi.json of a live server: no 5xx, documented answers conform."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from helpers import start_server, stop_server

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

KEY = "sk-schema"
# A real `shopsearch serve` process (start_server), then up to CASES generated requests per operation (about
# 2,000 in all), the same ones every run (derandomize): CI is reproducible; a longer random campaign by hand:
# SHOPSEARCH_SCHEMA_CASES=500 SHOPSEARCH_SCHEMA_RANDOM=1.
CASES = int(os.environ.get("SHOPSEARCH_SCHEMA_CASES", "50"))
RANDOM = os.environ.get("SHOPSEARCH_SCHEMA_RANDOM") == "1"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    url, process = start_server(tmp_path_factory.mktemp("schema"), KEY)
    yield schemathesis.openapi.from_url(url + "/openapi.json")
    stop_server(process)


def test_no_server_errors_and_answers_match_the_schema(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/embeddings", "POST /v1/rerank", "POST /v1/search",
                                               "POST /v1/experiments", "POST /v1/ranker/train", "GET /v1/analytics/series"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=not RANDOM)
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            if 400 <= response.status_code < 500:  # every refusal in OpenAI's error shape
                error = response.json()["error"]
                assert set(error) == {"message", "type", "param", "code"} and error["message"], (case.path, error)

        check()
