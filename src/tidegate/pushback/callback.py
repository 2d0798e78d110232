"""Docker Hub's callback: report a run's result to the registry that sent the push.

Docker Hub gives each webhook a `callback_url`; a POST of `{"state", "description",
"context", "target_url"}` there marks the push as validated (or not). Delivering it is
best effort: it is retried, but a failure to deliver never changes the run's result,
so `deliver_callback` reports problems instead of raising them.

Callback URLs carry their secret in the path (`…/hook/<secret>/`), so they are only
ever logged through `redact_url`, and `scrub_logs` keeps the HTTP libraries' own log
records (httpx2 logs every request's full URL at INFO) from showing them either.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from tidegate import __version__
from tidegate.backoff import jitter, retry_after
from tidegate.security.allowlist import AllowList
from tidegate.security.tracebacks import scrubbed

log = logging.getLogger(__name__)

CONTEXT = "tidegate"
MAX_DESCRIPTION = 255
_STATES = {"succeeded": "success", "failed": "failure", "timed_out": "failure"}


@dataclass(frozen=True)
class CallbackResult:
    """How a delivery went. `status` is the last HTTP status received, if any."""

    delivered: bool
    attempts: int
    status: int | None
    error: str | None


def callback_payload(run_status: str, description: str, target_url: str) -> dict[str, str]:
    """The callback body for a run that ended with `run_status`.

    succeeded → success; failed, timed_out → failure; cancelled or anything else (an
    engine error) → error.
    """
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1] + "…"
    return {
        "state": _STATES.get(run_status, "error"),
        "description": description,
        "context": CONTEXT,
        "target_url": target_url,
    }


def redact_url(url: str) -> str:
    """`scheme://host[:port]/***`: enough to say where, nothing that grants access."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    rest = "/***" if parts.path.strip("/") or parts.query or parts.fragment else "/"
    return f"{parts.scheme}://{host}{port}{rest}"


# Library loggers whose records can hold a URL or its path (httpx2 at INFO, Apprise
# when a URL does not parse, urllib3 at DEBUG).
_LIBRARY_LOGGERS = ("httpx2", "apprise", "urllib3.connectionpool")
_SCRUB: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("tidegate_scrub", default=())


@contextmanager
def scrub_logs(*urls: str) -> Iterator[None]:
    """Mask `urls` in the HTTP libraries' log records made in this context, including
    threads started from it with `asyncio.to_thread`.

    A whole URL becomes `redact_url(url)`; then any piece of it (host, path segment,
    credential, query value) left in a record becomes `***`, since Apprise URLs hide
    tokens in any of these places and libraries log them reassembled.
    """
    _install_scrubber()
    pieces = {p for url in urls for p in re.split(r"[/?&=#@:;,]+", url.partition("://")[2])}
    pairs = [(url, redact_url(url)) for url in urls]
    pairs += sorted(((p, "***") for p in pieces if len(p) >= 4), key=lambda pair: -len(pair[0]))
    token = _SCRUB.set((*_SCRUB.get(), *pairs))
    try:
        yield
    finally:
        _SCRUB.reset(token)


class _Scrubber(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        pairs = _SCRUB.get()
        if pairs and isinstance(record.args, tuple):
            record.msg = _mask(str(record.msg), pairs)
            record.args = tuple(
                _mask(str(arg), pairs) if any(s in str(arg) for s, _ in pairs) else arg
                for arg in record.args
            )
        return True


def _mask(text: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for secret, replacement in pairs:
        text = text.replace(secret, replacement)
    return text


_scrubber = _Scrubber()


def _install_scrubber() -> None:
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _scrubber not in logger.filters:
            logger.addFilter(_scrubber)


async def deliver_callback(
    url: str,
    payload: Mapping[str, Any],
    allow: AllowList,
    *,
    timeout: float = 10,
    attempts: int = 5,
    backoff: float = 1.0,
    max_delay: float = 60.0,
    client_factory: Callable[[], httpx2.AsyncClient] | None = None,
) -> CallbackResult:
    """POST `payload` as JSON to `url`; never raises for delivery problems.

    A host off `allow` gets no request at all. Connect errors, timeouts (`timeout`
    seconds per attempt), 429 and 5xx are retried up to `attempts` in all, waiting
    `backoff` · 2ⁿ with jitter, or the server's Retry-After; waits are capped at
    `max_delay`. A 2xx is delivered; any other status stops. Redirects are never
    followed: one could lead off the allow-list.
    """
    shown = redact_url(url)
    if not allow.allows(url):
        log.warning("callback to %s refused: host not on the allow-list", shown)
        return CallbackResult(False, 0, None, f"refused: {shown} is not on the allow-list")
    attempts = max(1, attempts)
    factory = client_factory or (lambda: httpx2.AsyncClient(timeout=timeout))
    attempt, status, error = 0, None, None
    try:
        with scrub_logs(url):
            async with factory() as client:
                while attempt < attempts:
                    attempt += 1
                    outcome = await _attempt(client, url, payload, timeout)
                    status, error = outcome.status, outcome.error
                    if error is None:
                        log.info("callback to %s delivered (HTTP %s)", shown, status)
                        return CallbackResult(True, attempt, status, None)
                    log.warning("callback to %s, attempt %d: %s", shown, attempt, error)
                    if not outcome.retry or attempt == attempts:
                        break
                    wait = outcome.retry_after
                    if wait is None:
                        wait = jitter(backoff, attempt, max_delay)
                    await asyncio.sleep(min(wait, max_delay))
    except Exception as exc:  # a bug or an unexpected library error: still not the run's
        error = _describe(exc, url)
        log.error("callback to %s failed: %s\n%s", shown, error, scrubbed(exc))
    return CallbackResult(False, attempt, status, error)


@dataclass(frozen=True)
class _Try:
    status: int | None = None
    error: str | None = None  # None: delivered
    retry: bool = False
    retry_after: float | None = None  # the server's wish; None: use the backoff


async def _attempt(
    client: httpx2.AsyncClient, url: str, payload: Mapping[str, Any], timeout: float
) -> _Try:
    try:
        # asyncio.timeout bounds the whole attempt: httpx's timeouts are per phase.
        async with asyncio.timeout(timeout):
            response = await client.post(
                url,
                json=payload,
                headers={"user-agent": f"tidegate/{__version__}"},
                follow_redirects=False,
                timeout=timeout,
            )
    except (httpx2.TimeoutException, TimeoutError):
        return _Try(error=f"timed out after {timeout:g}s", retry=True)
    except httpx2.NetworkError as exc:  # connect, read, write
        return _Try(error=_describe(exc, url), retry=True)
    except httpx2.HTTPError as exc:  # invalid URL, unsupported protocol, proxy refusal
        return _Try(error=_describe(exc, url))
    status = response.status_code
    if response.is_success:
        return _Try(status)
    if status == 429 or status >= 500:
        wait = retry_after(response.headers.get("retry-after"))
        return _Try(status, f"HTTP {status}", retry=True, retry_after=wait)
    if response.is_redirect:
        return _Try(status, f"HTTP {status}: redirect not followed")
    return _Try(status, f"HTTP {status}")


def _describe(exc: BaseException, url: str) -> str:
    return f"{type(exc).__name__}: {str(exc).replace(url, redact_url(url))}".rstrip(": ")
