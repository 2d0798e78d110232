"""Following a paginated answer (tags list, referrers list) to its next page.

The distribution spec pages with a `Link: <…>; rel="next"` header. The next page must
stay on the same host: a link elsewhere would carry our token there.
"""

from __future__ import annotations

import httpx2

from tidegate.registry.errors import RegistryProtocolError
from tidegate.registry.reference import ImageRef
from tidegate.registry.session import error


def next_page(response: httpx2.Response, ref: ImageRef, thing: str) -> str | None:
    """The URL of the page after `response`, or None when it is the last; a
    `RegistryProtocolError` naming `thing` when the link leaves the host."""
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    following = response.url.join(link)
    if following.netloc != response.url.netloc:
        raise error(RegistryProtocolError, ref, f"{thing} links to {following.host}")
    return str(following)
