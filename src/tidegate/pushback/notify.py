"""Notifications through Apprise, each destination checked against the allow-list first.

Apprise URLs name a service, not always a host: `slack://T/B/C` posts to
hooks.slack.com. So the destination comes from the parsed plugin: for the generic HTTP
schemes (json, form, xml) and self-hosted services it is the URL's host; for hosted
services it is read from the URL the plugin posts to (`_DESTINATIONS`). A URL whose
destination we cannot tell is refused unless the allow-list holds "*:*".

Apprise URLs carry tokens, so they are only ever shown as `scheme://host/***`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import apprise

from tidegate.pushback.callback import scrub_logs
from tidegate.security.allowlist import AllowList

log = logging.getLogger(__name__)

Destination = tuple[str, int | None, str]  # (host, port, scheme): the allow-list's port rule


@dataclass
class NotifyResult:
    """What became of each URL, in redacted form."""

    sent: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


async def send_notification(
    urls: list[str], title: str, body: str, allow: AllowList, timeout: float
) -> NotifyResult:
    """Send `title`/`body` to every allowed URL at once; never raises for a failed send.

    Apprise is blocking, so each send runs in a thread; one that takes longer than
    `timeout` seconds counts as failed (its socket timeouts are capped to match, so
    the thread does not linger).
    """
    with scrub_logs(*urls):
        return await _send_all(urls, title, body, allow, timeout)


async def _send_all(
    urls: list[str], title: str, body: str, allow: AllowList, timeout: float
) -> NotifyResult:
    plans = await asyncio.to_thread(lambda: [_plan(url, allow) for url in urls])
    verdicts: list[list[str]] = []  # per URL, so every list of the result keeps input order
    result = NotifyResult()
    sends: dict[int, Awaitable[str | None]] = {}
    for i, (shown, plugin, allowed) in enumerate(plans):
        if plugin is None:
            log.warning("notification to %s failed: not a valid Apprise URL", shown)
            verdicts.append(result.failed)
        elif not allowed:
            log.warning("notification to %s refused: destination not on the allow-list", shown)
            verdicts.append(result.refused)
        else:
            plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, timeout)
            plugin.socket_read_timeout = min(plugin.socket_read_timeout, timeout)
            sends[i] = _send(plugin, title, body, timeout)
            verdicts.append(result.sent)
    errors = await asyncio.gather(*sends.values())
    for i, error in zip(sends, errors, strict=True):
        if error is not None:
            log.warning("notification to %s failed: %s", plans[i][0], error)
            verdicts[i] = result.failed
    for (shown, _, _), verdict in zip(plans, verdicts, strict=True):
        verdict.append(shown)
    return result


def redact_apprise_url(url: str) -> str:
    """`scheme://host:port/***` naming the destination when known, else `scheme://***`."""
    with scrub_logs(url):
        return _plan(url, AllowList([]))[0]


async def _send(plugin: Any, title: str, body: str, timeout: float) -> str | None:
    try:
        async with asyncio.timeout(timeout):
            ok = await asyncio.to_thread(plugin.notify, body=body, title=title)
    except TimeoutError:
        return f"timed out after {timeout:g}s"
    except Exception as exc:  # a plugin bug must not fail the run
        return type(exc).__name__
    return None if ok else "the service did not accept it"


def _plan(url: str, allow: AllowList) -> tuple[str, Any, bool]:
    """(redacted URL, plugin or None when the URL is not valid, allowed)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    plugin = _instantiate(url) if scheme.isalnum() else None
    found = _destinations(plugin) if plugin is not None else None
    shown = _shown(scheme, found) if scheme.isalnum() else "<invalid URL>"
    if plugin is None:
        return shown, None, False
    if found is None:
        return shown, plugin, allow.unrestricted
    return shown, plugin, bool(found) and all(allow.allows_host(*d) for d in found)


def _instantiate(url: str) -> Any:
    # Memory-only storage: Apprise would otherwise cache to disk. Redirects off: one
    # could lead off the allow-list (set again on the plugin: a URL can ask for them).
    asset = apprise.AppriseAsset(storage_mode="memory", http_redirects=False)
    plugin = apprise.Apprise.instantiate(url, asset=asset)
    if plugin is not None:
        plugin.redirects = False
    return plugin


def _destinations(plugin: Any) -> list[Destination] | None:
    names = {*_names(plugin.protocol), *_names(plugin.secure_protocol)}
    for name in names:
        if name in _DESTINATIONS:
            return _DESTINATIONS[name](plugin)
    return None


def _names(protocol: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if protocol is None:
        return ()
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _url_host(plugin: Any) -> list[Destination] | None:
    """The host in the URL itself (generic HTTP schemes, self-hosted services)."""
    if not plugin.host:
        return None
    scheme = "https" if plugin.secure else "http"
    port = plugin.port if isinstance(plugin.port, int) else (443 if plugin.secure else 80)
    return [(plugin.host, port, scheme)]


def _posts_to(attr: str) -> Callable[[Any], list[Destination] | None]:
    """The host of the URL the plugin posts to, read from the plugin's attribute."""

    def destinations(plugin: Any) -> list[Destination] | None:
        value = getattr(plugin, attr, None)
        parts = urlsplit(value if isinstance(value, str) else "")
        if not parts.hostname or "{" in parts.netloc:  # absent, or a per-user template
            return None
        scheme = "https" if parts.scheme == "https" else "http"
        return [(parts.hostname, parts.port or (443 if scheme == "https" else 80), scheme)]

    return destinations


_SLACK_URLS = {
    "hook": "webhook_url",
    "gov-hook": "webhook_gov_url",
    "bot": "api_url",
    "workflow": "workflow_url",
    "trigger": "workflow_trigger_url",
}


def _slack(plugin: Any) -> list[Destination] | None:
    attr = _SLACK_URLS.get(str(plugin.mode))
    return _posts_to(attr)(plugin) if attr else None


def _ntfy(plugin: Any) -> list[Destination] | None:
    if str(plugin.mode) == "cloud":
        return _posts_to("cloud_notify_url")(plugin)
    return _url_host(plugin)


# Keyed by the plugin's secure protocol. A service missing here is refused unless "*:*".
_DESTINATIONS: dict[str, Callable[[Any], list[Destination] | None]] = {
    "jsons": _url_host,
    "forms": _url_host,
    "xmls": _url_host,
    "gotifys": _url_host,
    "mmosts": _url_host,
    "ntfys": _ntfy,
    "slack": _slack,
    "discord": _posts_to("notify_url"),
    "tgram": _posts_to("notify_url"),
}


def _shown(scheme: str, found: list[Destination] | None) -> str:
    if not found:
        return f"{scheme}://***"
    host, port, _ = found[0]
    host = f"[{host.strip('[]')}]" if ":" in host else host
    return f"{scheme}://{host}:{port}/***"
