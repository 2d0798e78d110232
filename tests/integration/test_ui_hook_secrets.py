"""The admin page's hook form and a signing source: the secret it offers is the hook's,
checked on every delivery, and never shown on the page again."""

from __future__ import annotations

import re

import httpx2

from tests.support import Server
from tests.uipages import csrf, person, text
from tidegate.events.sources import SOURCES
from tidegate.events.sources.auth import HookAuth


def post(browser: httpx2.Client, path: str, **data: str) -> httpx2.Response:
    return browser.post(path, data={"csrf_token": csrf(browser.get("/admin").text), **data})


def offered(page: str) -> str:
    found = re.search(r'id="hook-secret" name="secret"[^>]*value="([^"]*)"', page)
    assert found is not None
    return found.group(1)


def test_the_form_offers_a_secret_that_the_hook_then_checks(server: Server) -> None:
    with person(server, "ada", "admin") as ada:
        page = ada.get("/admin").text
        secret = offered(page)
        assert len(secret) >= 40 and offered(ada.get("/admin").text) != secret  # new each time

        created = post(ada, "/admin/hooks", source="ghcr", name="org", secret=secret)
        assert created.status_code == 303
        shown = ada.get("/admin").text
        url = re.search(r'id="new-secret"[^>]*value="([^"]+)"', shown)
        assert url is not None and "/hooks/ghcr/" in url.group(1)
        assert "with the secret of the form" in text(shown)
        assert secret not in ada.get("/admin").text.replace(offered(shown), "")

        body, headers = SOURCES["ghcr"].sample("acme/web:v1", auth=HookAuth(secret))
        assert httpx2.post(url.group(1), content=body, headers=headers).status_code == 202
        forged = headers | SOURCES["ghcr"].sign(body, HookAuth("y" * 32))
        assert httpx2.post(url.group(1), content=body, headers=forged).status_code == 401

        # A source that signs nothing ignores the field; one that signs needs it.
        assert post(ada, "/admin/hooks", source="quay", secret=secret).status_code == 303
        empty = post(ada, "/admin/hooks", source="harbor", secret="")
        assert empty.status_code == 422 and "needs a secret" in text(empty.text)
        short = post(ada, "/admin/hooks", source="acr", secret="short")
        assert short.status_code == 422 and "16 to 512" in text(short.text)
