"""A property-based fuzzer driven by the application's own OpenAPI document.

Schemathesis reads ``/schema/openapi.json`` from the app (in-process, over ASGI) and, for every
operation, sends requests it generates from the document: valid ones and ones that break it (wrong
types, missing and unknown fields, out-of-range values, odd strings), without credentials, with a
staff token and with an API key. Every answer must be documented: never a 5xx, a documented status,
and a body in the documented shape (``{status_code, detail, extra}`` for every refusal).

Bounded by ``HUYING_FUZZ_EXAMPLES`` examples per operation and generation mode, each sent as one of the three callers (default 10). It runs on
SQLite, and on PostgreSQL when ``HUYING_TEST_POSTGRES_URL`` is set, like the rest of the suite.
"""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import helpers

EXAMPLES = int(os.environ.get("HUYING_FUZZ_EXAMPLES", "10"))
# ``negative_data_rejection`` is left out: its default list of refusing statuses lacks 413, which is
# how an oversized invalid body is rightly refused; every refusal is still checked against the
# document (status, content type and the error shape) by the checks below.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
async def callers(platform) -> dict[str, dict[str, str]]:
    """Who the fuzzer is: nobody, an administrator (every route open to it), or an integration."""
    from core.auth import create_api_key, issue_token
    from core.tables import User

    admin = await User.select(User.id).where(User.username == "admin1").first()
    token, _ = issue_token(admin["id"], platform.settings.secret_key, 600)
    return {"anonymous": {}, "staff token": {"Authorization": f"Bearer {token}"},
            "api key": {"X-API-Key": await create_api_key("fuzzer", [])}}


@pytest.fixture
async def api(platform):
    """The app and its OpenAPI document, with one real order so the order routes are reached too."""
    import msgspec
    from schemathesis.python import asgi

    from api.app import create_app
    from core.model import Actor
    from core.orders import IntakeRequest

    _, order = await platform.orders.intake("hotline", msgspec.convert(helpers.intake_body(), IntakeRequest),
                                            Actor(name="agent1", role="agent"))
    app = create_app(platform, pool=False, run_jobs=False)
    yield schemathesis.openapi.from_asgi("/schema/openapi.json", app), order.number
    asgi.shutdown_lifespans()


def test_every_answer_is_documented_and_no_request_gets_a_5xx(api, callers):
    """Whatever a client sends to any operation, valid or not, with or without credentials, the server
    answers with a documented status and body, never an error of its own."""
    schema, number = api
    sent, started = [], time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/stream"):  # a live stream answers for as long as it is open
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            known = {"number": number} if "{number}" in operation.path and mode is GenerationMode.POSITIVE else None

            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=known),
                   who=st.sampled_from(sorted(callers)))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def fuzz(case, who):
                response = case.call(headers=dict(callers[who]), timeout=120)  # training a model is slow
                sent.append(response.status_code)
                case.validate_response(response, checks=CHECKS, headers=callers[who])

            try:
                fuzz()
            except Unsatisfiable:  # nothing in the operation can be made invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    print(f"fuzzer: {len(sent)} requests in {time.perf_counter() - started:.1f} s, statuses {sorted(set(sent))}")
    assert sent and max(sent) < 500
