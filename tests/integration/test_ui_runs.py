"""The runs list and the run page, as signed-in people use them: reading, the live log,
approving and rejecting, cancelling and re-running through the page's forms."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.integration.test_ui_signin import PASSWORD, add_user, login_token
from tests.support import Server, eventually, write_workflow
from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.events.sources.registry import registry_payload

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@contextmanager
def sign_in(server: Server, name: str, role: str) -> Iterator[httpx2.Client]:
    """A browser signed in as a new local user `name` with `role`."""
    add_user(server, name, role)
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        answer = browser.post(
            "/login",
            data={"name": name, "password": PASSWORD, "csrf_token": login_token(browser)},
        )
        assert answer.status_code == 303, answer.text
        yield browser


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def push(server: Server, reference: str, source: str = "dockerhub", **kwargs: str) -> list[str]:
    if source == "dockerhub":
        response = server.post_hook("dockerhub", dockerhub_payload(reference, **kwargs))
    else:
        response = server.post_hook(
            "registry",
            registry_payload(reference, **kwargs),
            "application/vnd.docker.distribution.events.v2+json",
        )
    assert response.status_code == 202, response.text
    return list(response.json()["runs"])


def live_attributes(html: str, element_id: str) -> bool:
    """Whether the element opening with `id="element_id"` polls (htmx `every`)."""
    match = re.search(rf'<[^>]*id="{element_id}"[^>]*>', html)
    assert match, f"no element {element_id}"
    return "hx-trigger=" in match.group(0)


def test_the_runs_list_shows_each_run_and_its_filters_narrow_it(server: Server) -> None:
    write_workflow(
        server.settings,
        "web",
        'name: web\non_unresolved: tag\non: {image: {repositories: ["acme/*"]}}\n'
        'jobs: {a: {steps: [{run: "true"}]}}\n',
    )
    write_workflow(
        server.settings,
        "api",
        'name: api\non_unresolved: tag\non: {image: {repositories: ["team/*"]}}\n'
        'jobs: {a: {steps: [{run: "exit 3"}]}}\n',
    )
    (web,) = push(server, "acme/web:v1.2.3")
    (api,) = push(server, "team/api:2.0", source="registry", registry="127.0.0.1:5000")
    assert server.wait_run(web)["status"] == "succeeded"
    failed = server.wait_run(api)
    assert failed["status"] == "failed"

    # Not signed in: sent to sign in, and back to the list after.
    bounced = httpx2.get(f"{server.url}/runs?status=failed", timeout=30)
    assert bounced.status_code == 303
    assert bounced.headers["location"] == "/login?next=%2Fruns%3Fstatus%3Dfailed"

    with sign_in(server, "vic", "viewer") as browser:
        home = browser.get("/")
        assert home.status_code == 200
        for page in (home.text, browser.get("/runs").text):
            assert f'href="/runs/{web}"' in page and f'href="/runs/{api}"' in page
            assert page.index(f'id="run-{api}"') < page.index(f'id="run-{web}"')  # newest first
        row = re.search(rf'<tr id="run-{api}">.*?</tr>', home.text, re.S)
        assert row
        assert "team/api:2.0" in row.group(0) and failed["digest"][:19] in row.group(0)
        assert '<span class="status failed">failed</span>' in row.group(0)
        assert ">api<" in row.group(0)
        # Every field of the filter form has a label.
        for field in ("workflow", "status", "repository", "tag", "source"):
            assert f'<label for="f-{field}">' in home.text and f'id="f-{field}"' in home.text

        def shown(query: str) -> set[str]:
            page = browser.get(f"/runs?{query}")
            assert page.status_code == 200
            return set(re.findall(r'<tr id="run-([^"]+)">', page.text)) & {web, api}

        assert shown("workflow=api") == {api}
        assert shown("status=succeeded") == {web}
        assert shown("repository=acme/web") == {web}
        assert shown("tag=2.0") == {api}
        assert shown("source=registry") == {api}
        assert shown("source=dockerhub&status=failed") == set()
        assert shown(f"before={api}") == {web}  # the next page, as the API pages
        assert "No runs match these filters." in browser.get("/runs?tag=nope").text
        # Nothing is live: the table's body does not poll.
        assert not live_attributes(home.text, "run-rows")


def test_a_live_run_updates_its_row_page_and_log_until_it_ends(
    server: Server, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    write_workflow(
        server.settings,
        "serial",
        f"""
name: serial
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
concurrency: deploy-${{{{ event.repository }}}}
jobs:
  a:
    steps:
      - name: wait for the gate
        timeout: 60s
        run: |
          for i in 1 2 3; do echo "line $i"; done
          while [ ! -e {gate} ]; do sleep 0.05; done
          echo "after the gate"
""",
    )
    (first,) = push(server, "acme/web:v1")
    eventually(lambda: "line 3" in server.logs(first))
    (second,) = push(server, "acme/web:v2")  # the same key: queued behind the first
    eventually(lambda: server.run(second)["status"] == "queued")

    with sign_in(server, "vic", "viewer") as browser:
        listing = browser.get("/runs").text
        assert live_attributes(listing, "run-rows")
        assert 'hx-get="/runs/rows"' in listing
        rows = browser.get("/runs/rows").text
        assert rows.startswith("<tbody") and live_attributes(rows, "run-rows")
        assert '<span class="status running">running</span>' in rows

        queued = browser.get(f"/runs/{second}").text
        assert re.search(rf'Waiting for run <a href="/runs/{first}">{first}</a>', queued)

        page = browser.get(f"/runs/{first}").text
        assert live_attributes(page, "run-live")
        assert f'data-stream="/runs/{first}/log/stream?after=' in page
        assert "line 3" in page

        # The live log: lines of the running step, then the rest and the end.
        received: list[str] = []
        with browser.stream("GET", f"/runs/{first}/log/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            event = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "lines":
                    received.append(json.loads(line.removeprefix("data: "))["html"])
                    if "line 3" in received[-1] and not gate.exists():
                        gate.touch()  # now let the step finish
                elif line.startswith("data: ") and event == "end":
                    break
        text = "".join(received)
        assert text.index("line 1") < text.index("line 3") < text.index("after the gate")
        assert 'class="no"' in text  # numbered like the page's own lines

        assert server.wait_run(first)["status"] == "succeeded"
        assert server.wait_run(second)["status"] == "succeeded"
        rows = browser.get("/runs/rows").text
        assert not live_attributes(rows, "run-rows")  # nothing live: polling stops
        assert not live_attributes(browser.get(f"/runs/{first}/live").text, "run-live")
        done = browser.get(f"/runs/{first}").text
        assert "data-stream=" not in done and "after the gate" in done
        # Resuming after a line (as a reconnecting EventSource does) sends only what follows.
        line_ids = [int(i) for i in re.findall(r'id="l(\d+)"', done)]
        resumed = browser.get(
            f"/runs/{first}/log/stream", headers={"Last-Event-ID": str(line_ids[-2])}
        ).text
        assert "after the gate" in resumed and "line 1" not in resumed
        assert resumed.rstrip().endswith("event: end\ndata: {}")


def test_the_run_page_shows_image_graph_steps_and_an_escaped_coloured_log(
    server: Server,
) -> None:
    write_workflow(
        server.settings,
        "pipeline",
        """
name: pipeline
on_unresolved: tag
on: {image: {repositories: ["**"]}}
jobs:
  build:
    steps:
      - name: compile
        run: |
          printf '\\033[31mred alert\\033[0m done\\n'
          echo '<script>alert(1)</script>'
  test:
    needs: [build]
    steps:
      - run: echo testing
  lint:
    steps:
      - name: lint it
        run: exit 3
finally:
  - run: echo cleanup
""",
    )
    (run_id,) = push(
        server, "team/api:1.0", source="registry", registry="127.0.0.1:5000", pusher=SCRIPT
    )
    run = server.wait_run(run_id)
    assert run["status"] == "failed"

    with sign_in(server, "vic", "viewer") as browser:
        answer = browser.get(f"/runs/{run_id}")
        assert answer.status_code == 200
        page = answer.text
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        # The image as pushed and as pinned, and the event that started the run.
        assert f'<code id="image-ref">127.0.0.1:5000/team/api:1.0@{run["digest"]}</code>' in page
        assert f'<a href="/events/{run["event_id"]}" id="event-link">' in page
        # What came from the webhook and from the step is escaped, never markup.
        assert SCRIPT not in page
        assert f'<span id="pusher">{ESCAPED}</span>' in page
        assert f'<span class="tx">{ESCAPED}</span>' in page
        # Colours as classes on spans, the codes gone.
        assert '<span class="ansi-fg-1">red alert</span> done' in page
        log = re.search(r'<section id="log".*?</section>', page, re.S)
        assert log and "\x1b" not in page and "[31m" not in log.group(0)
        # The graph: one node per job (and finally), a line from build to test.
        svg = re.search(r'<svg class="graph".*?</svg>', page, re.S)
        assert svg
        for job in ("build", "test", "lint", "finally"):
            assert f'href="#job-{job}"' in svg.group(0)
            assert f'<section class="job" id="job-{job}"' in page
        assert svg.group(0).count("<path ") == 1
        assert 'aria-label="lint: failed' in svg.group(0)
        # Steps with status, exit code and attempts.
        lint = re.search(r'<tr id="step-lint-0">.*?</tr>', page, re.S)
        assert lint
        cells = re.findall(r"<td>(.*?)</td>", lint.group(0), re.S)
        assert cells[1].strip() == '<span class="status failed">failed</span>'
        assert cells[2:4] == ["3", "1"]
        assert "lint it" in lint.group(0)
        assert 'id="run-status">failed<' in page
        # The workflow as the run saw it.
        assert "<details>" in page and "name: pipeline" in page
        # A viewer has nothing to press.
        assert 'id="rerun"' not in page and 'id="cancel-run"' not in page
        assert "<script>" not in page.replace('<script src="/static/', "")

        missing = browser.get("/runs/run_missing")
        assert missing.status_code == 404 and "run_missing does not exist" in missing.text


def test_a_long_log_shows_its_end_and_pages_back_to_the_start(server: Server) -> None:
    write_workflow(
        server.settings,
        "chatty",
        'name: chatty\non_unresolved: tag\non: {image: {repositories: ["**"]}}\n'
        'jobs: {a: {steps: [{name: count, run: "seq 12000"}]}}\n',
    )
    (run_id,) = push(server, "acme/web:v1")
    assert server.wait_run(run_id)["status"] == "succeeded"

    def numbers(html: str) -> list[str]:
        return re.findall(r'<span class="tx">(\d+)</span>', html)

    with sign_in(server, "vic", "viewer") as browser:
        page = browser.get(f"/runs/{run_id}").text
        assert "Lines 11001–12000 of 12000" in page
        shown = numbers(page)
        assert shown[0] == "11001" and shown[-1] == "12000" and len(shown) == 1000
        earlier = re.search(r'href="(/runs/[^"]+\?log_before=\d+)#log"', page)
        assert earlier and "Earlier lines (11000 more)" in page
        # Without JavaScript: the link is the page with the window before.
        before = browser.get(earlier.group(1)).text
        assert "Lines 10001–11000 of 12000" in before
        assert numbers(before)[0] == "10001" and numbers(before)[-1] == "11000"
        assert "Later lines (1000 more)" in before
        # With htmx: the same lines alone, and the way on.
        fetched = re.search(r'hx-get="(/runs/[^"]+/log/lines\?before=\d+)"', page)
        assert fetched
        partial = browser.get(fetched.group(1)).text
        assert numbers(partial) == numbers(before)
        assert "Earlier lines (10000 more)" in partial
        # A step's log starts at its first line.
        step = browser.get(f"/runs/{run_id}/log/step/a/0")
        assert step.status_code == 303
        start = browser.get(step.headers["location"]).text
        assert "Lines 1–1000 of 12000" in start and numbers(start)[0] == "1"
        # And the whole log as text.
        whole = browser.get(f"/runs/{run_id}/log.txt")
        assert whole.status_code == 200
        assert whole.text.count(" stdout: ") == 12000


def approval_workflow(done: Path) -> str:
    return f"""
name: gated
on_unresolved: tag
on: {{image: {{repositories: ["acme/*"]}}}}
jobs:
  approve:
    approval:
      approvers: [alice, bob, "group:release"]
      required: 1
      timeout: 1h
      message: "ship ${{{{ event.tag }}}}?"
  deploy:
    needs: [approve]
    steps:
      - run: touch {done}
"""


def start_waiting(server: Server) -> tuple[str, str]:
    (run_id,) = push(server, "acme/web:v2")
    eventually(lambda: server.run(run_id)["status"] == "waiting")
    (approval,) = server.run(run_id)["approvals"]
    return run_id, approval["id"]


def test_only_a_listed_approver_with_the_session_token_approves(
    server: Server, tmp_path: Path
) -> None:
    done = tmp_path / "deployed"
    write_workflow(server.settings, "gated", approval_workflow(done))
    run_id, approval_id = start_waiting(server)
    approve = f"/runs/{run_id}/approvals/{approval_id}/approve"

    def pending() -> bool:
        (approval,) = server.run(run_id)["approvals"]
        return bool(approval["status"] == "pending" and not approval["decisions"])

    # A viewer, even one listed by name: sees who may decide, has no button, and a
    # forged POST with their own valid token is refused.
    with sign_in(server, "alice", "viewer") as viewer:
        page = viewer.get(f"/runs/{run_id}").text
        assert 'id="approval"' in page and "ship v2?" in page
        assert f'id="approve-{approval_id}"' not in page and "Approve</button>" not in page
        assert "<li>alice</li>" in page and "<strong>release</strong>" in page
        assert "0 of 1 required" in page
        assert f'<span id="approval-{approval_id}-deadline">(in ' in page
        forged = viewer.post(approve, data={"csrf_token": csrf(page), "comment": "sneaky"})
        assert forged.status_code == 403
    assert pending()

    # An approver who is not listed: the same page, and a 403 page for a forged POST.
    with sign_in(server, "carol", "approver") as carol:
        page = carol.get(f"/runs/{run_id}").text
        assert "Approve</button>" not in page
        forged = carol.post(approve, data={"csrf_token": csrf(page)})
        assert forged.status_code == 403 and "not one of the people who may decide" in forged.text
    assert pending()

    with sign_in(server, "bob", "approver") as bob:
        page = bob.get(f"/runs/{run_id}").text
        assert f'<label for="comment-{approval_id}">' in page
        assert f'id="approve-{approval_id}">Approve</button>' in page
        reject = f"/runs/{run_id}/approvals/{approval_id}/reject"
        assert f'id="reject-{approval_id}" formaction="{reject}">Reject</button>' in page
        # Without the session's CSRF token, or with another: 403, nothing changes.
        assert bob.post(approve, data={"comment": "no token"}).status_code == 403
        assert bob.post(approve, data={"csrf_token": "forged"}).status_code == 403
        assert pending()

        answer = bob.post(approve, data={"csrf_token": csrf(page), "comment": f"ok {SCRIPT}"})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/runs/{run_id}#approval"
        assert server.wait_run(run_id)["status"] == "succeeded"
        assert done.exists()
        page = bob.get(f"/runs/{run_id}").text
        assert f'id="approval-{approval_id}-status">approved<' in page
        assert "<td>bob</td><td>approved</td>" in page and f"ok {ESCAPED}" in page
        assert "approval.approve" in page  # the audit trail
        assert SCRIPT not in page
        # Deciding a settled approval: the run page says why.
        again = bob.post(approve, data={"csrf_token": csrf(page)})
        assert again.status_code == 409 and "already approved" in again.text


def test_a_rejection_with_a_comment_fails_the_run_and_shows_the_comment(
    server: Server, tmp_path: Path
) -> None:
    done = tmp_path / "deployed"
    write_workflow(server.settings, "gated", approval_workflow(done))
    run_id, approval_id = start_waiting(server)
    with sign_in(server, "alice", "approver") as alice:
        page = alice.get(f"/runs/{run_id}").text
        answer = alice.post(
            f"/runs/{run_id}/approvals/{approval_id}/reject",
            data={"csrf_token": csrf(page), "comment": "the changelog is missing"},
        )
        assert answer.status_code == 303
        assert server.wait_run(run_id)["status"] == "failed"
        page = alice.get(f"/runs/{run_id}").text
        assert f'id="approval-{approval_id}-status">rejected<' in page
        assert "<td>alice</td><td>rejected</td>" in page
        assert "the changelog is missing" in page
        assert 'id="run-status">failed<' in page and 'id="rerun"' in page
    assert not done.exists()


def test_cancel_and_rerun_through_the_forms(server: Server, tmp_path: Path) -> None:
    started = tmp_path / "started"
    write_workflow(
        server.settings,
        "long",
        f"""
name: long
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  long:
    steps:
      - run: touch {started}; sleep 60
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    eventually(started.exists)
    with sign_in(server, "vic", "viewer") as viewer:
        page = viewer.get(f"/runs/{run_id}").text
        assert 'id="cancel-run"' not in page
        forged = viewer.post(f"/runs/{run_id}/cancel", data={"csrf_token": csrf(page)})
        assert forged.status_code == 403
    with sign_in(server, "bob", "approver") as bob:
        page = bob.get(f"/runs/{run_id}").text
        assert 'id="cancel-run">Cancel run</button>' in page and 'id="rerun"' not in page
        assert bob.post(f"/runs/{run_id}/cancel").status_code == 403  # no CSRF token
        assert server.run(run_id)["status"] == "running"

        answer = bob.post(f"/runs/{run_id}/cancel", data={"csrf_token": csrf(page)})
        assert answer.status_code == 303 and answer.headers["location"] == f"/runs/{run_id}"
        assert server.wait_run(run_id, timeout=30)["status"] == "cancelled"
        page = bob.get(f"/runs/{run_id}").text
        assert 'id="run-status">cancelled<' in page
        assert 'id="rerun">Re-run</button>' in page and 'id="cancel-run"' not in page
        assert "<td>bob</td><td>run.cancel</td>" in page

        started.unlink()
        answer = bob.post(f"/runs/{run_id}/rerun", data={"csrf_token": csrf(page)})
        assert answer.status_code == 303
        new_id = answer.headers["location"].removeprefix("/runs/")
        assert new_id != run_id and server.run(new_id)["rerun_of"] == run_id
        eventually(started.exists)
        again = bob.get(f"/runs/{new_id}").text
        assert f'Re-run of <a href="/runs/{run_id}">' in again
        assert f'new run <a href="/runs/{new_id}">' in bob.get(f"/runs/{run_id}").text
        # Cancelling it ends the test quickly; a second cancel is the page with the reason.
        assert bob.post(f"/runs/{new_id}/cancel", data={"csrf_token": csrf(again)}).is_redirect
        assert server.wait_run(new_id, timeout=30)["status"] == "cancelled"
        late = bob.post(f"/runs/{new_id}/cancel", data={"csrf_token": csrf(again)})
        assert late.status_code == 409 and "already finished" in late.text


def test_a_run_kept_for_its_approval_says_its_log_was_pruned(server: Server) -> None:
    from datetime import timedelta

    from tests.seeding import seed_runs
    from tidegate.store.db import Database
    from tidegate.store.models import utcnow
    from tidegate.store.retention import Policy, prune

    db = Database(server.settings.db_url)
    try:
        now = utcnow()
        (kept,) = seed_runs(
            db, 1, finished_at=lambda _i: now - timedelta(days=45), approved=lambda _i: True
        )
        (fresh,) = seed_runs(db, 1, finished_at=lambda _i: now - timedelta(days=1))
        removed = prune(db, Policy(run_days=30, runs_per_workflow=0), now)
        assert removed.kept_for_audit == 1
    finally:
        db.dispose()
    with server.client() as api:
        assert api.get(f"/api/v1/runs/{kept.run_id}").json()["pruned_at"] is not None
        assert api.get(f"/api/v1/runs/{fresh.run_id}").json()["pruned_at"] is None
    with sign_in(server, "vera", "viewer") as browser:
        page = browser.get(f"/runs/{kept.run_id}").text
        assert 'id="log-pruned"' in page and "No output yet" not in page
        assert "the run, its promotions and its approvals are kept" in page
        assert 'id="log-pruned"' not in browser.get(f"/runs/{fresh.run_id}").text
