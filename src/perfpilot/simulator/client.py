"""The simulator's side of the Perfpilot API, over HTTP (httpx).

- push: POST /metrics/batch with per-sample timestamps; 201 means committed. A failure that
  may pass (transport error, 429, 5xx) raises `PushFailed(retryable=True)` so the caller keeps
  the batch for the next push; anything else (a 4xx) is not retryable, and 401/403 (the token
  is refused) end the run.
- desired_state: GET /services/:name -> its `state`; None while the service is unknown (404).
- webhooks: create and delete the `state.changed` subscription of the webhook follow mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from perfpilot.core.config import API_PREFIX
from perfpilot.simulator.actuator import TargetState

REFUSED = (401, 403)  # the token will not get better by retrying


class PushFailed(Exception):
    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


def api_base(url: str) -> str:
    """The /v1 API root from a server URL (with or without the prefix)."""
    url = url.rstrip("/")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


class PerfpilotClient:
    """`async with PerfpilotClient(url, token) as client:`"""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=api_base(url),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> PerfpilotClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def push(self, samples: Sequence[Mapping[str, Any]]) -> None:
        if not samples:
            return
        try:
            response = await self._http.post("/metrics/batch", json={"samples": list(samples)})
        except httpx.TransportError as exc:
            raise PushFailed(f"push failed: {exc!r}", retryable=True) from exc
        if response.status_code == 201:
            return
        retryable = response.status_code == 429 or response.status_code >= 500
        raise PushFailed(
            f"push rejected: {response.status_code} {response.text[:300]}",
            retryable=retryable,
            status=response.status_code,
        )

    async def desired_state(self, service: str) -> TargetState | None:
        response = await self._http.get(f"/services/{service}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return TargetState.from_api(response.json()["data"]["state"])

    async def create_webhook(self, url: str, service: str) -> tuple[str, str]:
        """Subscribe `url` to the service's state.changed events: (webhook id, secret)."""
        response = await self._http.post(
            "/webhooks",
            json={
                "url": url,
                "events": ["state.changed"],
                "serviceName": service,
                "description": f"perfpilot simulate: {service} follows its desired state",
            },
        )
        response.raise_for_status()
        data = response.json()["data"]
        return str(data["id"]), str(data["secret"])

    async def delete_webhook(self, webhook_id: str) -> None:
        response = await self._http.delete(f"/webhooks/{webhook_id}")
        if response.status_code != 404:
            response.raise_for_status()

    async def get(self, path: str, **params: Any) -> Any:
        """GET an API path and return its `data` (for scripts that inspect a run)."""
        response = await self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()["data"]

    async def get_all(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paged list (following `nextCursor`)."""
        items: list[Any] = []
        while True:
            response = await self._http.get(path, params=params)
            response.raise_for_status()
            body = response.json()
            items.extend(body["data"])
            if not body.get("nextCursor"):
                return items
            params = params | {"cursor": body["nextCursor"]}

    async def send(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """Any API call with a JSON body; returns `data`."""
        response = await self._http.request(method, path, json=body, params=params or None)
        response.raise_for_status()
        return response.json()["data"]
