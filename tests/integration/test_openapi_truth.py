"""The OpenAPI document describes what the server does: 405 with a complete `Allow`, a 404
on every id route, error bodies in the envelope, and no `null` where null is refused."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


async def document(live_server: LiveServer) -> dict[str, Any]:
    response = await live_server.client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


async def test_405_lists_every_method_of_the_path_as_documented(live_server: LiveServer) -> None:
    spec = await document(live_server)
    checked = 0
    for path, operations in spec["paths"].items():
        documented = sorted(m.upper() for m in operations)
        for operation in operations.values():
            allow = operation["responses"]["405"]["headers"]["Allow"]
            assert allow["required"] is True, path
        concrete = path.replace("{", "").replace("}", "")  # any value fits the path template
        for method in (m for m in METHODS if m not in documented):
            response = await live_server.client.request(
                method, concrete, headers=live_server.auth()
            )
            assert response.status_code == 405, (method, path, response.text)
            assert sorted(response.headers["allow"].split(", ")) == documented, (method, path)
            assert response.json()["error"]["code"] == "method_not_allowed"
            checked += 1
    assert checked > 50


async def test_every_route_with_an_id_documents_and_answers_404(live_server: LiveServer) -> None:
    spec = await document(live_server)
    unknown = "00000000-0000-4000-8000-000000000000"
    checked = 0
    for path, operations in spec["paths"].items():
        if "{" not in path:
            continue
        for method, operation in operations.items():
            assert "404" in operation["responses"], (method, path)
            url = path.replace("{service_name}", "no-such-service")
            url = url.split("{", 1)[0] + unknown + url.split("}", 1)[1] if "{" in url else url
            kwargs: dict[str, Any] = {"json": {}} if "requestBody" in operation else {}
            response = await live_server.client.request(
                method.upper(), url, headers=live_server.auth(), **kwargs
            )
            assert response.status_code == 404, (method, url, response.text)
            assert response.json()["error"]["code"] == "not_found"
            checked += 1
    assert checked >= 12


async def test_error_responses_are_the_envelope_and_match_what_a_route_can_do(
    live_server: LiveServer,
) -> None:
    spec = await document(live_server)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for code in ("400", "401", "403", "404", "405", "409", "413", "415", "422", "429"):
                if code in responses:
                    schema = responses[code]["content"]["application/json"]["schema"]
                    assert schema == envelope, (method, path, code)
            has_body = "requestBody" in operation
            for code in ("400", "413", "415"):
                assert (code in responses) == has_body, (method, path, code)
            assert ("401" in responses) == bool(operation.get("security")) or path == "/metrics"


async def test_webhook_update_documents_no_null_it_refuses(live_server: LiveServer) -> None:
    spec = await document(live_server)
    fields = spec["components"]["schemas"]["WebhookUpdate"]["properties"]
    # the body is validated before the id is looked up: an unknown id tells the two apart
    url = live_server.api("/webhooks/00000000-0000-4000-8000-000000000000")
    for name, schema in fields.items():
        nullable = "null" in str(schema)
        response = await live_server.client.put(url, json={name: None}, headers=live_server.auth())
        if nullable:
            assert response.status_code == 404, (name, response.text)
        else:
            assert response.status_code == 422, (name, response.text)
            assert response.json()["error"]["details"][0]["field"] == name
    assert "null" not in str(fields["url"]) and "null" in str(fields["serviceName"])


async def test_unknown_path_is_a_404_envelope(live_server: LiveServer) -> None:
    response = await live_server.client.get(live_server.api("/no-such-thing"))
    assert response.status_code == 404
    assert response.json()["success"] is False
