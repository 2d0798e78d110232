"""The CLI's side of the API: one small synchronous client."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx2

from tidegate.errors import TidegateError
from tidegate.security.tls import verifying_context


class ApiError(TidegateError):
    """The server refused the request."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class Unreachable(TidegateError):
    """No answer from the server: nothing listens there, or the network is down."""


class ApiClient:
    """`hints` say what to do about an answer of that status (401: where tokens come
    from); `unreachable_hint` what to do when nothing answers at `url`."""

    def __init__(
        self,
        url: str,
        token: str | None,
        timeout: float = 30.0,
        *,
        hints: Mapping[int, str] | None = None,
        unreachable_hint: str = "",
    ) -> None:
        self.url = url.rstrip("/")
        self._hints = dict(hints or {})
        self._unreachable_hint = unreachable_hint
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx2.Client(
            base_url=self.url,
            headers=headers,
            timeout=timeout,
            verify=verifying_context(),  # the CA bundle read only if the server speaks TLS
        )

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        try:
            yield
        except (httpx2.TransportError, OSError) as exc:
            # The base URL only: a request's own URL may be a hook URL, a secret.
            hint = f"\n{self._unreachable_hint}" if self._unreachable_hint else ""
            raise Unreachable(f"cannot reach the server at {self.url}: {exc}{hint}") from exc

    def _check(self, response: httpx2.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
                message = body.get("detail") or body.get("error") or response.text
            except ValueError:
                message = response.text
            hint = self._hints.get(response.status_code)
            text = f"{response.status_code}: {message}" + (f"\n{hint}" if hint else "")
            raise ApiError(response.status_code, text)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        with self._reaching():
            return self._check(self._client.get(path, params=clean))

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        with self._reaching():
            return self._check(self._client.post(path, json=body, **kwargs))

    def post_raw(self, path: str, content: bytes, headers: Mapping[str, str]) -> Any:
        with self._reaching():
            return self._check(self._client.post(path, content=content, headers=headers))

    def stream_events(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Server-sent events as (event, data) pairs."""
        with self._reaching(), self._client.stream("GET", path, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            event, data = "message", ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    data += line.removeprefix("data:").strip()
                elif not line and data:
                    yield event, json.loads(data)
                    event, data = "message", ""

    def close(self) -> None:
        self._client.close()
