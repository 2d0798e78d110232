"""The web UI in a real browser (Debian's Chromium, driven by Playwright) against a real
`tidegate serve`, on SQLite and PostgreSQL: signing in, a live log, deciding approvals,
what a viewer and a forger can do, why an event started nothing, and OIDC sign-in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from oidc_provider_mock import User, run_server_in_thread
from playwright.sync_api import Page, expect

from tests.e2e.browser import UiServer, sign_in, start_ui_server
from tests.support import FINAL
from tidegate.events.sources.dockerhub import dockerhub_payload

pytestmark = pytest.mark.slow

SLOW_LOG = """
name: slow-log
on_unresolved: tag
on: {image: {repositories: ["acme/log"]}}
jobs:
  count:
    steps:
      - name: count
        run: |
          for i in 1 2 3 4 5 6; do echo "line $i of six"; sleep 0.7; done
"""
GATED = """
name: gated
on_unresolved: tag
on: {image: {repositories: ["acme/web"], tags: ["v*"]}}
jobs:
  approve:
    approval: {approvers: [alice, "group:release"], message: "Ship it?"}
  deploy:
    needs: [approve]
    steps:
      - run: echo deploying
"""


@pytest.fixture
def ui(tmp_path: Path, database_url: str) -> Iterator[UiServer]:
    yield from start_ui_server(tmp_path, database_url)


def push(ui: UiServer, reference: str, pusher: str = "ci") -> dict[str, list[str]]:
    body = dockerhub_payload(reference, pusher=pusher)
    answer = httpx2.post(ui.serve.hooks["dockerhub"], content=body, timeout=30)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def wait_status(ui: UiServer, run_id: str, statuses: tuple[str, ...] = FINAL) -> str:
    return str(ui.serve.wait_run(run_id, statuses, timeout=90)["status"])


def test_a_running_steps_log_appears_line_by_line(ui: UiServer, page: Page) -> None:
    ui.write_workflow("slow-log", SLOW_LOG)
    sign_in(page, ui, "vera")
    (run_id,) = push(ui, "acme/log:v1")["runs"]
    wait_status(ui, run_id, ("running", *FINAL))
    page.goto(f"{ui.url}/runs/{run_id}")
    log = page.locator("#log-lines")
    expect(log).to_contain_text("line 2 of six", timeout=30_000)
    # The page showed the early lines while the step still ran: the last was not there.
    assert "line 6 of six" not in log.inner_text()
    expect(log).to_contain_text("line 6 of six", timeout=30_000)
    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=30_000)


def test_approve_from_the_approvals_page_and_the_run_finishes(ui: UiServer, page: Page) -> None:
    ui.write_workflow("gated", GATED)
    (run_id,) = push(ui, "acme/web:v1.0.0")["runs"]
    wait_status(ui, run_id, ("waiting",))
    sign_in(page, ui, "alice", "/approvals")
    expect(page.get_by_role("heading", name="Approvals waiting for you")).to_be_visible()
    expect(page.locator("header nav")).to_contain_text("Approvals 1")
    page.get_by_role("link", name=re.compile("^Decide")).click()
    expect(page).to_have_url(re.compile(rf"/runs/{run_id}#approval$"))
    page.get_by_label(re.compile("^Comment")).fill("looks good")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=60_000)
    expect(page.locator("#approval")).to_contain_text("looks good")
    assert wait_status(ui, run_id) == "succeeded"


def test_reject_with_a_comment_fails_the_run_and_shows_it(ui: UiServer, page: Page) -> None:
    ui.write_workflow("gated", GATED)
    (run_id,) = push(ui, "acme/web:v2.0.0")["runs"]
    wait_status(ui, run_id, ("waiting",))
    sign_in(page, ui, "alice", f"/runs/{run_id}")
    page.get_by_label(re.compile("^Comment")).fill("not this one: <b>flaky</b>")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#run-status")).to_contain_text("failed", timeout=60_000)
    decisions = page.locator("#approval table")
    expect(decisions).to_contain_text("rejected")
    expect(decisions).to_contain_text("not this one: <b>flaky</b>")  # as text, escaped
    assert wait_status(ui, run_id) == "failed"


def test_a_viewer_sees_no_approve_button_and_a_forged_post_is_refused(
    ui: UiServer, page: Page
) -> None:
    ui.write_workflow("gated", GATED)
    (run_id,) = push(ui, "acme/web:v3.0.0")["runs"]
    wait_status(ui, run_id, ("waiting",))
    sign_in(page, ui, "vera", f"/runs/{run_id}")
    expect(page.locator("#approval")).to_contain_text("Ship it?")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    approval_id = pending_approval(ui, run_id)
    # The viewer forges the form, with her own session's valid CSRF token.
    csrf = page.locator("form.signout input[name=csrf_token]").get_attribute("value")
    forged = page.request.post(
        f"{ui.url}/runs/{run_id}/approvals/{approval_id}/approve",
        form={"csrf_token": csrf or "", "comment": "forged"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert pending_approval(ui, run_id) == approval_id  # still pending


def test_a_post_without_the_csrf_token_is_refused(ui: UiServer, page: Page) -> None:
    ui.write_workflow("gated", GATED)
    (run_id,) = push(ui, "acme/web:v4.0.0")["runs"]
    wait_status(ui, run_id, ("waiting",))
    sign_in(page, ui, "alice", f"/runs/{run_id}")
    approval_id = pending_approval(ui, run_id)
    url = f"{ui.url}/runs/{run_id}/approvals/{approval_id}/approve"
    for form in ({"comment": "no token"}, {"comment": "bad token", "csrf_token": "forged"}):
        answer = page.request.post(url, form=form, max_redirects=0)
        assert answer.status == 403, form
    assert pending_approval(ui, run_id) == approval_id
    cancel = page.request.post(f"{ui.url}/runs/{run_id}/cancel", form={}, max_redirects=0)
    assert cancel.status == 403
    assert ui.serve.run(run_id)["status"] == "waiting"


def test_an_event_page_says_why_a_workflow_did_not_start(ui: UiServer, page: Page) -> None:
    ui.write_workflow("gated", GATED)
    answer = push(ui, "acme/web:latest")
    assert answer["runs"] == []
    (event_id,) = answer["events"]
    sign_in(page, ui, "vera", f"/events/{event_id}")
    expect(page.locator("main")).to_contain_text("gated")
    expect(page.locator("main")).to_contain_text("v*")
    expect(page.locator("main")).to_contain_text("latest")
    expect(page.locator("main")).to_contain_text(re.compile("tags", re.IGNORECASE))


def pending_approval(ui: UiServer, run_id: str) -> str:
    with ui.serve.client() as c:
        approvals = c.get(f"/api/v1/runs/{run_id}").json()["approvals"]
    (pending,) = [a["id"] for a in approvals if a["status"] == "pending"]
    return str(pending)


# --- OIDC -------------------------------------------------------------------------

PEOPLE = [
    User(sub="u-carol", claims={"preferred_username": "carol", "groups": ["release"]}),
    User(sub="u-dave", claims={"preferred_username": "dave", "groups": ["dev"]}),
]


@pytest.fixture
def oidc_ui(tmp_path: Path, database_url: str) -> Iterator[UiServer]:
    with run_server_in_thread(require_nonce=True, user_claims=PEOPLE) as provider:
        yield from start_ui_server(
            tmp_path,
            database_url,
            TIDEGATE_OIDC_ISSUER=f"http://localhost:{provider.server_port}",
            TIDEGATE_OIDC_CLIENT_ID="tidegate",
            TIDEGATE_OIDC_CLIENT_SECRET="client-secret-for-tests",
            TIDEGATE_OIDC_ROLES=json.dumps({"release": "approver"}),
            TIDEGATE_OIDC_NAME="Acme SSO",
        )


def test_oidc_sign_in_makes_a_release_member_an_approver(oidc_ui: UiServer, page: Page) -> None:
    oidc_ui.write_workflow("gated", GATED)
    (run_id,) = push(oidc_ui, "acme/web:v5.0.0")["runs"]
    wait_status(oidc_ui, run_id, ("waiting",))
    page.goto(f"{oidc_ui.url}/runs/{run_id}")  # a link from a notification
    page.get_by_role("link", name="Sign in with Acme SSO").click()
    page.get_by_role("button", name="u-carol").click()  # the provider's sign-in
    expect(page).to_have_url(re.compile(rf"/runs/{run_id}"))  # back where the link pointed
    expect(page.locator("header")).to_contain_text("carol")
    expect(page.locator("header")).to_contain_text("approver")
    page.get_by_role("button", name="Approve").click()  # `group:release` lists her
    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=60_000)
    assert wait_status(oidc_ui, run_id) == "succeeded"
