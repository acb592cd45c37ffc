"""The OpenAPI document explains every field and parameter a client meets (issue 21): each
property of each component schema and each parameter of each operation has a description and
an example, and the examples of the response bodies are ones their models accept."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.http import bodies, schemas
from api.http.app import create_app
from ledger.settings import Settings

# Request-body components (the command models of ledger/commands.py, which
# `bodies.request_components()` adds) let off the check: none, now that they are documented.
REQUEST_SIDE_PENDING: frozenset[str] = frozenset()

# Fewer than these visited, and the walk has missed part of the document.
AT_LEAST_PROPERTIES = 100
AT_LEAST_PARAMETERS = 15

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(settings=Settings(database_url="sqlite://")).openapi()


def _components(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return document["components"]["schemas"]  # type: ignore[no-any-return]


def _has_example(item: dict[str, Any]) -> bool:
    return "example" in item or "examples" in item


def test_every_field_of_every_response_body_has_a_description_and_an_example(
    document: dict[str, Any],
) -> None:
    missing, visited = [], 0
    for name, schema in sorted(_components(document).items()):
        if name in REQUEST_SIDE_PENDING:
            continue
        for prop, spec in schema.get("properties", {}).items():
            visited += 1
            if not spec.get("description"):
                missing.append(f"{name}.{prop}: no description")
            if not _has_example(spec):
                missing.append(f"{name}.{prop}: no example")
    assert not missing, "\n".join(missing)
    assert visited >= AT_LEAST_PROPERTIES, f"only {visited} properties visited"


def test_every_query_path_and_header_parameter_has_a_description_and_an_example(
    document: dict[str, Any],
) -> None:
    missing, visited = [], 0
    for path, item in sorted(document["paths"].items()):
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                visited += 1
                where = f"{method.upper()} {path} {parameter['in']} {parameter['name']}"
                if not parameter.get("description"):
                    missing.append(f"{where}: no description")
                if not (_has_example(parameter) or _has_example(parameter.get("schema", {}))):
                    missing.append(f"{where}: no example")
    assert not missing, "\n".join(missing)
    assert visited >= AT_LEAST_PARAMETERS, f"only {visited} parameters visited"


def test_the_pending_request_side_names_only_request_bodies(document: dict[str, Any]) -> None:
    """The allow-list cannot hide a response body, nor outlive a request body's rename."""
    request_side = set(bodies.request_components()) - {"Problem"}
    assert set(REQUEST_SIDE_PENDING) <= request_side
    assert set(REQUEST_SIDE_PENDING) <= set(_components(document))


def _response_models() -> dict[str, type[BaseModel]]:
    """Every response model by its component name: `Problem` and each `Out` below `Out`."""
    found: dict[str, type[BaseModel]] = {"Problem": schemas.Problem}
    todo: list[type[BaseModel]] = [schemas.Out]
    while todo:
        for sub in todo.pop().__subclasses__():
            found[sub.__name__] = sub
            todo.append(sub)
    return found


def test_every_response_example_in_the_document_is_one_its_model_accepts(
    document: dict[str, Any],
) -> None:
    """As written in the document (FastAPI leaves out an object's null members there), each
    example passes its field's validation: the examples show what clients will receive."""
    components = _components(document)
    wrong, checked = [], 0
    for name, model in sorted(_response_models().items()):
        assert name in components, f"{name} is not a component of the document"
        properties = components[name]["properties"]
        for field, info in model.model_fields.items():
            prop = info.serialization_alias or info.alias or field
            adapter: TypeAdapter[Any] = TypeAdapter(info.rebuild_annotation())
            for example in properties[prop].get("examples", []):
                checked += 1
                try:
                    adapter.validate_python(example)
                except ValidationError as e:
                    wrong.append(f"{name}.{prop}: {example!r}: {e.errors()[0]['msg']}")
    assert not wrong, "\n".join(wrong)
    assert checked >= AT_LEAST_PROPERTIES, f"only {checked} examples checked"
