"""`tidegate user …` on a server's database: the users it makes can sign in at once."""

from __future__ import annotations

import json
import os
import pwd

import httpx2
from typer.testing import CliRunner

from tests.integration.test_ui_signin import login_token
from tests.support import Server
from tidegate.cli import app
from tidegate.store import users
from tidegate.store.db import Database
from tidegate.store.models import AuditEntry, WebSession

runner = CliRunner()
ME = f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
GOOD = "a long enough password"


def cli(server: Server, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    env = {
        "TIDEGATE_DATA_DIR": str(server.settings.data_dir),
        "TIDEGATE_DATABASE_URL": server.settings.database_url,
    }
    result = runner.invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def sign_in(server: Server, name: str, password: str) -> httpx2.Client:
    browser = httpx2.Client(base_url=server.url, timeout=30)
    data = {"name": name, "password": password, "csrf_token": login_token(browser)}
    answer = browser.post("/login", data=data)
    assert answer.status_code == 303, answer.text
    return browser


def database_rows(server: Server, model: type, **where: object) -> list:
    db = Database(server.settings.db_url)
    with db.session() as session:
        found = list(session.query(model).filter_by(**where).order_by(model.id))
        session.expunge_all()
    db.dispose()
    return found


def test_create_list_and_usage_errors(server: Server) -> None:
    code, out, err = cli(
        server,
        "user",
        "create",
        "alice",
        "--role",
        "approver",
        "--password-stdin",
        stdin=GOOD + "\n",
    )
    assert code == 0, err
    assert "alice" in out
    sign_in(server, "alice", GOOD).close()  # the newline is not part of it

    # Asked twice, hidden, when not on stdin.
    code, _, err = cli(server, "user", "create", "bob", stdin=f"{GOOD}\n{GOOD}\n")
    assert code == 0, err

    assert cli(server, "user", "create", "alice", "--password-stdin", stdin=GOOD)[0] == 1
    assert (
        cli(server, "user", "create", "x", "--role", "king", "--password-stdin", stdin=GOOD)[0] == 2
    )
    code, _, err = cli(server, "user", "create", "group:ops", "--password-stdin", stdin=GOOD)
    assert code == 2 and "group" in err
    code, _, err = cli(server, "user", "create", "carl", "--password-stdin", stdin="short")
    assert code == 2 and "at least" in err

    code, out, _ = cli(server, "user", "list", "--json")
    listed = {u["name"]: u for u in json.loads(out)}
    assert listed.keys() == {"admin", "alice", "bob"}  # admin: the first start's
    assert (listed["alice"]["role"], listed["alice"]["origin"]) == ("approver", "local")
    assert listed["bob"]["role"] == "viewer" and listed["bob"]["disabled_at"] is None
    created = database_rows(server, AuditEntry, action="user.create")
    assert [(e.actor, e.target, e.detail) for e in created] == [
        (ME, "alice", "approver"),
        (ME, "bob", "viewer"),
    ]


def test_role_passwd_and_disable_reach_live_sessions(server: Server) -> None:
    assert cli(server, "user", "create", "dora", "--password-stdin", stdin=GOOD)[0] == 0
    browser = sign_in(server, "dora", GOOD)

    code, out, _ = cli(server, "user", "role", "dora", "admin")
    assert code == 0 and "admin" in out
    (live,) = database_rows(server, WebSession, user="dora")
    assert live.role == "admin" and live.ended_at is None
    assert cli(server, "user", "role", "dora", "king")[0] == 2
    assert cli(server, "user", "role", "nobody", "admin")[0] == 1

    assert cli(server, "user", "passwd", "nobody", "--password-stdin", stdin=GOOD)[0] == 1
    code, _, err = cli(server, "user", "passwd", "dora", "--password-stdin", stdin="new pass 2")
    assert code == 0, err
    assert browser.get("/login").status_code == 200  # signed out: the form again
    browser.close()
    sign_in(server, "dora", "new pass 2").close()

    code, out, _ = cli(server, "user", "disable", "dora")
    assert code == 0 and "disabled" in out
    assert cli(server, "user", "disable", "dora")[0] == 0  # already: nothing changes
    assert cli(server, "user", "disable", "nobody")[0] == 1
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        data = {"name": "dora", "password": "new pass 2", "csrf_token": login_token(browser)}
        assert browser.post("/login", data=data).status_code == 401

    actions = [(e.action, e.detail) for e in database_rows(server, AuditEntry, target="dora")]
    assert actions == [
        ("user.create", "viewer"),
        ("user.role", "viewer → admin"),
        ("user.password", "their sessions ended"),
        ("user.disable", ""),
    ]


def test_a_provider_user_has_no_password_to_set(server: Server) -> None:
    db = Database(server.settings.db_url)
    with db.session() as session:
        users.create_user(session, "olga", "viewer", None, origin="oidc")
    db.dispose()
    code, _, err = cli(server, "user", "passwd", "olga", "--password-stdin", stdin=GOOD)
    assert code == 1 and "oidc" in err
