"""What a registry or token service said, as far as an error message repeats it: a known
error code, never the words.

An error's message reaches a run's record, which viewers read. Whatever answered may not
be a registry at all (a name an event chose can lead to any service), and its body or
headers are its own choice: a page, a banner, an echo of the request. So a message says
the status (the caller adds it) and, in words, the error codes the registry sent that
the OCI distribution spec or OAuth2 defines (`manifest unknown`, `invalid grant`), and
nothing else the answer held.
"""

from __future__ import annotations

import json
import re

import httpx2

# The OCI distribution spec's codes, and those Distribution and Docker Hub add.
REGISTRY_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DENIED",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "MANIFEST_UNVERIFIED",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "PAGINATION_NUMBER_INVALID",
        "RANGE_INVALID",
        "SIZE_INVALID",
        "TAG_INVALID",
        "TOOMANYREQUESTS",
        "UNAUTHORIZED",
        "UNAVAILABLE",
        "UNKNOWN",
        "UNSUPPORTED",
    }
)
# OAuth2's token endpoint errors (RFC 6749 5.2) and Bearer challenge errors (RFC 6750 3.1).
OAUTH2_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_token",
        "insufficient_scope",
    }
)
_MAX_CODES = 3
_CHALLENGE_ERROR = re.compile(r'error="?([\w.-]{1,40})')


def what_was_said(response: httpx2.Response, body: bytes | None = None) -> str:
    """The known error codes of an error answer, in words ("manifest unknown"), or "".

    Reads distribution's `{"errors": [{"code"}]}`, OAuth2's `{"error"}` and a Bearer
    challenge's `error=`; every other part of the answer is left out.
    """
    data = response.content if body is None else body
    codes = _codes(data)
    if not codes:
        found = _CHALLENGE_ERROR.search(response.headers.get("www-authenticate", ""))
        codes = [found.group(1)] if found and found.group(1) in OAUTH2_CODES else []
    return ", ".join(c.lower().replace("_", " ") for c in codes)


def _codes(data: bytes) -> list[str]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    codes: list[str] = []
    errors = doc.get("errors")
    if isinstance(errors, list):
        for item in errors:
            code = item.get("code") if isinstance(item, dict) else None
            if isinstance(code, str) and code.upper() in REGISTRY_CODES:
                codes.append(code.upper())
    oauth = doc.get("error")
    if isinstance(oauth, str) and oauth in OAUTH2_CODES:
        codes.append(oauth)
    return list(dict.fromkeys(codes))[:_MAX_CODES]
