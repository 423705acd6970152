"""The OpenAPI document (/openapi.json, rendered at /docs) explains every route: a valid
OpenAPI 3.1 document, a summary for each operation, examples for every body it takes and
answers, each example valid against its schema, every refusal's body, and the enums of
activities, metrics, periods and scopes. Which statuses each route lists is compared with
what the e2e tests observe in tests/e2e/test_openapi_statuses.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
from starlette.routing import BaseRoute

from fitboard.config import Settings
from fitboard.domain.activities import Activity
from fitboard.domain.boards import Metric, Period
from fitboard.entrypoints.api import create_app

Operation = tuple[str, str, dict[str, Any]]
# Error bodies other than the shared {detail} (ErrorOut) and the validation error: the
# import's own refusals, and readiness naming each dependency.
OTHER_ERROR_BODIES = {"ImportDuplicate", "ImportRefused", "ReadyOut"}
REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    # Creating the app starts nothing; every optional route is on (docs and metrics).
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi")))


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", method, operation


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].removeprefix(REF)]
    return schema


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = _resolve(document, media.get("schema", {}))
    if schema.get("type") == "array":
        schema = _resolve(document, schema.get("items", {}))
    # An optional body: {"anyOf": [{"$ref": ...}, {"type": "null"}]}.
    options = [_resolve(document, option) for option in schema.get("anyOf", [])]
    return any(option.get("examples") for option in [schema, *options])


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema_rs.Validator:
    # The components ride along, so that "#/components/schemas/..." resolves.
    return jsonschema_rs.Draft202012Validator(
        {"components": document["components"], "allOf": [schema]}, validate_formats=True
    )


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    errors = [str(error) for error in OPENAPI_31_VALIDATOR.iter_errors(document)]
    assert not errors, errors
    invalid = [
        name
        for name, schema in document["components"]["schemas"].items()
        if not jsonschema_rs.meta.is_valid(schema)
    ]
    assert not invalid, invalid


def _routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """Every operation's route, in the routers the app includes too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # FastAPI keeps an included router as such (its `original_router`).
        router = getattr(route, "original_router", route)
        yield from _routes(getattr(router, "routes", []))


def test_every_route_has_a_summary(app: FastAPI, document: dict[str, Any]) -> None:
    routes = [r for r in _routes(app.routes) if r.include_in_schema]
    assert len(routes) == sum(1 for _ in _operations(document))
    # Given in the code: FastAPI would otherwise make one of the function's name.
    unsummarised = [f"{sorted(r.methods or ())} {r.path}" for r in routes if not r.summary]
    assert not unsummarised


def test_every_body_taken_and_answered_has_an_example(document: dict[str, Any]) -> None:
    missing = []
    for label, _, operation in _operations(document):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if not _has_example(document, media):
                missing.append(f"{label}: request {media_type}")
        for status, answer in operation["responses"].items():
            for media_type, media in answer.get("content", {}).items():
                if not _has_example(document, media):
                    missing.append(f"{label}: {status} {media_type}")
    assert not missing, missing


def test_every_example_is_valid_against_its_schema(document: dict[str, Any]) -> None:
    invalid = []
    for name, schema in document["components"]["schemas"].items():
        for n, example in enumerate(schema.get("examples", [])):
            for error in _validator(document, {"$ref": REF + name}).iter_errors(example):
                invalid.append(f"{name} example {n}: {error.message} at {error.instance_path}")
    media_examples = 0
    for label, _, operation in _operations(document):
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += list(operation["responses"].items())
        for status, answer in bodies:
            for media_type, media in answer.get("content", {}).items():
                if "example" not in media or "schema" not in media:
                    continue
                media_examples += 1
                if media_type == "multipart/form-data":
                    continue  # a file's bytes are no JSON string
                for error in _validator(document, media["schema"]).iter_errors(media["example"]):
                    invalid.append(f"{label} {status} {media_type}: {error.message}")
    assert media_examples > 20  # the refusals' examples are checked, not passed over
    assert not invalid, invalid


def test_every_refusal_documents_its_body_and_headers(document: dict[str, Any]) -> None:
    wrong = []
    for label, _, operation in _operations(document):
        for status, answer in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            name = schema.get("$ref", "").removeprefix(REF)
            expected = "ValidationErrorOut" if status == "422" else "ErrorOut"
            if name != expected and name not in OTHER_ERROR_BODIES:
                wrong.append(f"{label} {status}: body {schema}")
            retry = "Retry-After" in answer.get("headers", {})
            if name == "ErrorOut" and status in ("429", "503") and not retry:
                wrong.append(f"{label} {status}: no Retry-After")
            if status == "401" and "WWW-Authenticate" not in answer.get("headers", {}):
                wrong.append(f"{label} 401: no WWW-Authenticate")
    assert not wrong, wrong
    # FastAPI's own validation error (with `input`, which no answer carries) is gone.
    assert "HTTPValidationError" not in document["components"]["schemas"]
    detail = document["components"]["schemas"]["FieldErrorOut"]["properties"]["loc"]
    assert all(where in detail["description"] for where in ("path", "query", "body"))


def test_activities_metrics_periods_and_scopes_are_enums(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["Activity"]["enum"] == [a.value for a in Activity]
    assert schemas["Metric"]["enum"] == [m.value for m in Metric]
    assert schemas["Period"]["enum"] == [p.value for p in Period]
    board = document["paths"]["/v1/leaderboards/{metric}/{period}"]["get"]
    parameters = {p["name"]: p for p in board["parameters"]}
    assert parameters["metric"]["schema"] == {"$ref": REF + "Metric"}
    assert parameters["period"]["schema"] == {"$ref": REF + "Period"}
    listed, group = parameters["scope"]["schema"]["anyOf"]
    assert listed["enum"] == ["global", *(f"activity:{a.value}" for a in Activity)]
    assert group["pattern"].startswith("^group:")
    challenge = schemas["ChallengeIn"]["properties"]
    assert challenge["scope"]["anyOf"] == [listed, group]
    assert challenge["metric"] == {"$ref": REF + "Metric"}
    assert schemas["WorkoutIn"]["properties"]["activity"] == {"$ref": REF + "Activity"}
    assert schemas["BoardOut"]["properties"]["period"] == {"$ref": REF + "Period"}
