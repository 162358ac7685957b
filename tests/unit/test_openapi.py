"""The OpenAPI document is valid 3.1 and names exactly the routes the app serves, so it cannot drift."""

import re
from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from backend.app import create_app
from backend.openapi import build

ROUTE_PARAM = re.compile(r"\{[^}]+\}")
ALTERNATIVES = re.compile(r"\(\?P<(\w+)>([\w|]+)\)")  # aiohttp's {name:a|b|c}


def documented(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def served(app: web.Application) -> set[tuple[str, str]]:
    """Every (method, path) the app routes, one path per alternative of a {name:a|b} segment; {x} kept."""
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD":  # added by aiohttp beside each GET
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info["formatter"]
        choices = ALTERNATIVES.findall(info["pattern"].pattern) if "pattern" in info else []
        paths = [path]
        for name, alternatives in choices:
            paths = [p.replace(f"{{{name}}}", alt) for p in paths for alt in alternatives.split("|")]
        found |= {(route.method, p) for p in paths}
    return found


@pytest.mark.parametrize("auth", [False, True])
def test_the_document_is_valid_openapi_3_1(auth):
    validate(build(auth), cls=OpenAPIV31SpecValidator)


def test_every_route_the_app_serves_is_documented_and_nothing_else(runtime):
    app = create_app(runtime)
    same_shape = lambda pairs: {(m, ROUTE_PARAM.sub("{}", p)) for m, p in pairs}  # noqa: E731
    assert same_shape(served(app)) == same_shape(documented(build(False)))


@pytest.mark.parametrize("auth", [False, True])
def test_every_error_response_is_the_error_schema_with_a_request_id(auth):
    for path, item in build(auth)["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if int(status) >= 400 and path != "/v1/health":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
                if status != "101":
                    assert "X-Request-Id" in response["headers"], (method, path, status)
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= set(op["responses"]), (method, path)
            if method in ("post", "delete"):
                assert "503" in op["responses"] and "Retry-After" in op["responses"]["503"]["headers"]


def test_with_a_token_guarded_operations_need_it_and_say_401():
    spec = build(True)
    assert spec["security"] == [{"bearer": []}]
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    for path, item in spec["paths"].items():
        for op in item.values():
            is_open = path in ("/v1/health", "/v1/openapi.json", "/", "/static/{name}")
            assert (op.get("security") == []) is is_open, path
            assert ("401" in op["responses"]) is not is_open, path
    assert "securitySchemes" not in build(False)["components"] and "security" not in build(False)


def test_every_link_names_an_operation_and_its_parameters():
    spec = build(False)
    params = {
        op["operationId"]: {p["name"] for p in op["parameters"] if "name" in p}
        for item in spec["paths"].values()
        for op in item.values()
    }
    links = [
        link
        for item in spec["paths"].values()
        for op in item.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) > 10
    for link in links:
        assert set(link["parameters"]) <= params[link["operationId"]], link


def test_schemas_come_from_the_models():
    schemas = build(False)["components"]["schemas"]
    assert schemas["TaskCreate"]["properties"]["prompt"]["maxLength"] == 32768
    assert schemas["TaskCreate"]["additionalProperties"] is False
    assert "init_bootstrap_db" in schemas["TaskStatus"]["enum"]


async def test_the_app_serves_it(aiohttp_client, runtime):
    client = await aiohttp_client(create_app(runtime))
    resp = await client.get("/v1/openapi.json")
    assert resp.status == 200
    assert await resp.json() == build(False)
