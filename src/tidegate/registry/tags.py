"""A repository's tags over HTTP: `GET /v2/<name>/tags/list`, every page.

Distribution, Harbor, GHCR and Docker Hub page the list with `n=` and a `Link: <…>;
rel="next"` header (the distribution spec's pagination, followed by `pages.py`); a
registry that ignores `n` answers the whole list at once.
"""

from __future__ import annotations

import json

from tidegate.registry.errors import RegistryProtocolError
from tidegate.registry.pages import next_page
from tidegate.registry.reference import ImageRef
from tidegate.registry.session import Session, error, raise_for_status

PAGE_SIZE = 1000  # Distribution's own cap per page; fewer pages, fewer round trips
MAX_PAGES = 1000  # a registry that links on forever stops here (a million tags)


async def list_tags(session: Session, repo: ImageRef, page_size: int = PAGE_SIZE) -> list[str]:
    """Every tag of `repo`'s repository, in the order the registry lists them; none
    for a repository the registry does not know (yet)."""
    url = session.url(repo, f"tags/list?n={page_size}")
    tags: list[str] = []
    for _ in range(MAX_PAGES):
        response, body = await session.request("GET", url, repo, headers={"Accept": "*/*"})
        if response.status_code == 404 and not tags:
            return []  # no such repository (NAME_UNKNOWN): nothing pushed there yet
        raise_for_status(response, body, repo, "tags list")
        tags += _page(body, repo)
        following = next_page(response, repo, "tags list")
        if following is None:
            return tags
        url = following
    raise error(RegistryProtocolError, repo, f"tags list longer than {MAX_PAGES} pages")


def _page(body: bytes, repo: ImageRef) -> list[str]:
    try:
        answer = json.loads(body)
    except ValueError:
        raise error(RegistryProtocolError, repo, "tags list is not JSON") from None
    found = answer.get("tags") if isinstance(answer, dict) else None
    if found is None:  # an empty repository: Distribution says `"tags": null`
        return []
    if not isinstance(found, list) or not all(isinstance(tag, str) for tag in found):
        raise error(RegistryProtocolError, repo, "tags list without a list of tags")
    return found
