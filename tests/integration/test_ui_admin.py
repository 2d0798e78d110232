"""The admin page: hooks, API tokens and users; admins only, CSRF-checked, audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2

from tests.support import Server
from tests.uipages import PASSWORD, add_user, can_sign_in, csrf, person, sign_in, text
from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.store import audit, credentials, users
from tidegate.store.db import Database
from tidegate.store.models import AuditEntry

ADMIN_FORMS = [
    ("/admin/hooks", {"source": "dockerhub", "name": "forged"}),
    ("/admin/tokens", {"user": "mallory", "role": "admin"}),
    ("/admin/users", {"name": "mallory", "role": "admin", "password": "x" * 12}),
    ("/admin/users/role", {"name": "vera", "role": "admin"}),
    ("/admin/users/password", {"name": "vera", "password": "y" * 12}),
    ("/admin/users/disable", {"name": "vera"}),
]


@contextmanager
def database(server: Server) -> Iterator[Database]:
    db = Database(server.settings.db_url)
    try:
        yield db
    finally:
        db.dispose()


def snapshot(server: Server) -> tuple[object, ...]:
    """What the admin forms could change: live hooks and tokens, users, the audit trail."""
    with database(server) as db, db.session() as session:
        return (
            sorted(h.id for h in credentials.list_hooks(session)),
            sorted(t.id for t in credentials.list_api_tokens(session)),
            sorted(
                (u.name, u.role, u.password_hash, u.disabled_at) for u in users.list_users(session)
            ),
            len(audit.recent(session, 500)),
        )


def audited(server: Server) -> list[tuple[str, str, str]]:
    with database(server) as db, db.session() as session:
        rows: list[AuditEntry] = list(reversed(audit.recent(session, 500)))
        return [(r.actor, r.action, r.target) for r in rows]


def post(browser: httpx2.Client, path: str, **data: str) -> httpx2.Response:
    """Send a form of the admin page, with the session's CSRF token."""
    token = csrf(browser.get("/admin").text)
    return browser.post(path, data={"csrf_token": token, **data})


def test_admin_is_for_admins_only_and_forged_forms_change_nothing(server: Server) -> None:
    add_user(server, "vera", "viewer")
    for role in ("viewer", "approver"):
        with person(server, f"someone-{role}", role) as someone:
            page = someone.get("/admin")
            assert page.status_code == 403 and "admin role" in text(page.text)
            assert 'href="/admin"' not in page.text  # not offered in the navigation
            token = csrf(someone.get("/events").text)
            for path, data in ADMIN_FORMS:
                answer = someone.post(path, data={"csrf_token": token, **data})
                assert answer.status_code == 403, path
    with person(server, "ada", "admin") as ada:
        before = snapshot(server)
        for path, data in ADMIN_FORMS:
            assert ada.post(path, data=data).status_code == 403, path  # no token
            forged = ada.post(path, data={"csrf_token": "forged", **data})
            assert forged.status_code == 403, path
        assert snapshot(server) == before
    # Without a session, a form is sent to sign in before it is read.
    bounced = httpx2.post(f"{server.url}/admin/hooks", data={"source": "dockerhub"}, timeout=30)
    assert bounced.status_code == 303 and bounced.headers["location"] == "/login"


def test_a_new_hook_url_is_shown_once_and_a_revoked_hook_answers_404(server: Server) -> None:
    with person(server, "ada", "admin") as ada:
        created = post(ada, "/admin/hooks", source="dockerhub", name="<script>ci</script>")
        assert created.status_code == 303 and created.headers["location"] == "/admin#done"
        page = ada.get("/admin")
        found = re.search(r'value="(http://[^"]+/hooks/dockerhub/(tgh_[^"]+))"', page.text)
        assert found, "the new hook's URL is on the page after the redirect"
        url, token = found.groups()
        assert "shown only this once" in text(page.text)
        assert page.headers["cache-control"] == "no-store"
        assert "<script>ci</script>" not in page.text
        assert "&lt;script&gt;ci&lt;/script&gt;" in page.text
        again = ada.get("/admin")
        assert token not in again.text  # a reload does not show it again
        assert "&lt;script&gt;ci&lt;/script&gt;" in again.text  # the hook is listed
        webhook = httpx2.post(url, content=dockerhub_payload("acme/web:v1"), timeout=30)
        assert webhook.status_code == 202

        with database(server) as db, db.session() as session:
            (hook,) = [
                h for h in credentials.list_hooks(session) if h.name == "<script>ci</script>"
            ]
        assert f'action="/admin/hooks/{hook.id}/revoke"' in again.text
        revoked = post(ada, f"/admin/hooks/{hook.id}/revoke")
        assert revoked.status_code == 303
        assert "is revoked" in text(ada.get("/admin").text)
        webhook = httpx2.post(url, content=dockerhub_payload("acme/web:v2"), timeout=30)
        assert webhook.status_code == 404
        assert post(ada, "/admin/hooks/hk_0000000000000000000000/revoke").status_code == 404
    assert ("ada", "hook.create", hook.id) in audited(server)
    assert ("ada", "hook.revoke", hook.id) in audited(server)


def test_hooks_bind_registries_and_invalid_ones_are_refused_on_the_page(server: Server) -> None:
    with person(server, "ada", "admin") as ada:
        created = post(
            ada,
            "/admin/hooks",
            source="registry",
            name="lab",
            registries="Reg.Example.com:443\nlocalhost:5000",
        )
        assert created.status_code == 303
        assert "reg.example.com, localhost:5000" in text(ada.get("/admin").text)
        before = snapshot(server)
        refused = post(ada, "/admin/hooks", source="dockerhub", name="d", registries="x.io")
        assert refused.status_code == 422
        assert "dockerhub events name their registry themselves" in text(refused.text)
        assert 'aria-invalid="true"' in refused.text
        long = post(ada, "/admin/hooks", source="registry", name="n" * 201)
        assert long.status_code == 422 and "200 characters" in text(long.text)
        nul = post(ada, "/admin/hooks", source="registry", name="a\x00b")
        assert nul.status_code == 422 and "NUL" in text(nul.text)
        unknown = post(ada, "/admin/hooks", source="nowhere", name="x")
        assert unknown.status_code == 422
        assert snapshot(server) == before


def test_an_api_token_is_shown_once_works_and_is_revoked(server: Server) -> None:
    with person(server, "ada", "admin") as ada:
        assert post(ada, "/admin/tokens", user="ci-bot", role="approver").status_code == 303
        page = ada.get("/admin").text
        token = re.search(r'value="(tga_[^"]+)"', page)
        assert token, "the new token is on the page after the redirect"
        assert token.group(1) not in ada.get("/admin").text
        api = httpx2.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token.group(1)}"}
        )
        with api:
            assert api.get("/api/v1/approvals").status_code == 200
            with database(server) as db, db.session() as session:
                (row,) = [t for t in credentials.list_api_tokens(session) if t.user == "ci-bot"]
            assert row.role == "approver"
            assert post(ada, f"/admin/tokens/{row.id}/revoke").status_code == 303
            assert api.get("/api/v1/approvals").status_code == 401
        bad = post(ada, "/admin/tokens", user="two\nlines", role="viewer")
        assert bad.status_code == 422 and "not allowed" in text(bad.text)
        bad = post(ada, "/admin/tokens", user="x", role="root")
        assert bad.status_code == 422 and "role must be one of" in text(bad.text)
    entries = audited(server)
    assert ("ada", "token.create", row.id) in entries and ("ada", "token.revoke", row.id) in entries


def test_users_are_created_given_a_role_and_a_password_and_disabled(server: Server) -> None:
    new_password = "another long passphrase"
    with person(server, "ada", "admin") as ada:
        created = post(ada, "/admin/users", name="dana", role="viewer", password=PASSWORD)
        assert created.status_code == 303
        assert "User dana (viewer) created" in text(ada.get("/admin").text)
        for data, reason in [
            ({"name": "dana", "role": "viewer", "password": PASSWORD}, "exists already"),
            ({"name": "eve", "role": "viewer", "password": "short"}, "at least 8"),
            ({"name": "line\nbreak", "role": "viewer", "password": PASSWORD}, "not allowed"),
            ({"name": "x" * 201, "role": "viewer", "password": PASSWORD}, "200 characters"),
            ({"name": "eve", "role": "owner", "password": PASSWORD}, "role must be one of"),
            ({"name": "group:ops", "role": "viewer", "password": PASSWORD}, "for groups"),
        ]:
            refused = post(ada, "/admin/users", **data)
            assert refused.status_code == 422 and reason in text(refused.text), data
        with sign_in(server, "dana") as dana:
            assert dana.get("/admin").status_code == 403
            assert post(ada, "/admin/users/role", name="dana", role="admin").status_code == 303
            assert dana.get("/admin").status_code == 200  # the live session has the new role
            assert (
                post(ada, "/admin/users/password", name="dana", password=new_password).status_code
                == 303
            )
            assert dana.get("/admin", follow_redirects=False).status_code == 303  # signed out
        assert not can_sign_in(server, "dana", PASSWORD)  # the old password is gone
        with sign_in(server, "dana", new_password) as dana:
            assert post(ada, "/admin/users/disable", name="dana").status_code == 303
            assert dana.get("/admin", follow_redirects=False).status_code == 303
        assert "disabled" in text(ada.get("/admin").text)
        assert post(ada, "/admin/users/disable", name="ada").status_code == 422  # not oneself
        assert post(ada, "/admin/users/role", name="ada", role="viewer").status_code == 422
        assert post(ada, "/admin/users/disable", name="nobody").status_code == 404
        assert post(ada, "/admin/users/role", name="a\x00b", role="viewer").status_code == 404
        weak = post(ada, "/admin/users/password", name="dana", password="short")
        assert weak.status_code == 422
    actions = [(action, target) for actor, action, target in audited(server) if actor == "ada"]
    for action in ("user.create", "user.role", "user.password", "user.disable"):
        assert (action, "dana") in actions
