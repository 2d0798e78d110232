"""Reading what a registry or token service said: error bodies and Retry-After."""

from __future__ import annotations

import json
import re

import httpx2

_MAX_SAID = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def what_was_said(response: httpx2.Response, body: bytes | None = None) -> str:
    """A short account of an error answer, or "" when it said nothing useful.

    Understands distribution's `{"errors": [{"code", "message"}]}`, Docker Hub's token
    service `{"details"}`, OAuth2's `{"error", "error_description"}`, a Bearer
    challenge's `error=` and plain text. `detail` objects are left out: they can echo
    a request back.
    """
    data = response.content if body is None else body
    text = _from_json(data) or _from_text(data, response.headers.get("content-type", ""))
    if not text:
        challenge = response.headers.get("www-authenticate", "")
        found = re.search(r'error="?([\w.-]+)', challenge)
        text = f"challenge error {found.group(1)}" if found else ""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= _MAX_SAID else text[: _MAX_SAID - 1] + "…"


def _from_json(data: bytes) -> str:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(doc, dict):
        return ""
    errors = doc.get("errors")
    if isinstance(errors, list):
        parts = [
            ": ".join(str(e[k]) for k in ("code", "message") if e.get(k))
            for e in errors
            if isinstance(e, dict)
        ]
        return "; ".join(p for p in parts if p)
    for keys in (("details",), ("error", "error_description"), ("message",)):
        found = [str(doc[k]) for k in keys if isinstance(doc.get(k), str) and doc[k]]
        if found:
            return ": ".join(found)
    return ""


def _from_text(data: bytes, content_type: str) -> str:
    if not data or not content_type.startswith("text/plain"):
        return ""  # an HTML error page says nothing short
    return data[:_MAX_SAID].decode("utf-8", "replace")
