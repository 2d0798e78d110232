"""Token scopes (Docker's token spec): what a request needs, merged and compared.

A scope is `type:name:action,action` (`repository:acme/web:pull,push`); a scope string
holds several, space-separated, as a `WWW-Authenticate` challenge does. A request
needs `pull` to read and `pull,push` to write; a cross-repository mount
(`POST …/blobs/uploads/?mount=…&from=src`) also needs `pull` on `src`, and distribution
checks both against one token, so the token request must name both.
"""

from __future__ import annotations

import re

# /v2/<name>/<endpoint>: the name may itself hold "/manifests/"; the greedy group takes
# the longest name the endpoint still fits after.
_PATH = re.compile(
    r"/v2/(.+)/(?:manifests/[^/]+|blobs/uploads/[^/]*|blobs/[^/]+|tags/list|referrers/[^/]+)"
)
_UPLOADS = re.compile(r"/v2/.+/blobs/uploads/")
_ACTION_ORDER = {"pull": 0, "push": 1}


def scope_for(method: str, path: str, mount_from: str = "") -> str:
    """The token scope a request needs: `repository:<name>:pull` (or `pull,push`), plus
    `repository:<mount_from>:pull` for a mount into `<name>`."""
    found = _PATH.fullmatch(path)
    if found is None:
        return ""
    actions = "pull" if method in ("GET", "HEAD") else "pull,push"
    scope = f"repository:{found.group(1)}:{actions}"
    if mount_from and method == "POST" and _UPLOADS.fullmatch(path):
        scope = merge_scopes(scope, f"repository:{mount_from}:pull")
    return scope


def merge_scopes(*scopes: str) -> str:
    """One canonical scope string naming every resource once with all its actions,
    in a stable order (so equal sets of scopes give equal strings)."""
    resources: dict[str, set[str]] = {}
    for text in scopes:
        for resource, actions in _parse(text):
            resources.setdefault(resource, set()).update(actions)
    return " ".join(
        f"{resource}:{','.join(sorted(actions, key=_action_key))}"
        for resource, actions in sorted(resources.items())
    )


def covers(granted: str, wanted: str) -> bool:
    """Whether a token asked for with scope `granted` serves a request needing `wanted`."""
    have = dict(_parse(granted))
    return all(actions <= have.get(resource, set()) for resource, actions in _parse(wanted))


def _parse(text: str) -> list[tuple[str, set[str]]]:
    parsed = []
    for scope in text.split():
        resource, sep, actions = scope.rpartition(":")
        if sep and resource:
            parsed.append((resource, {a for a in actions.split(",") if a}))
    return parsed


def _action_key(action: str) -> tuple[int, str]:
    return (_ACTION_ORDER.get(action, len(_ACTION_ORDER)), action)
