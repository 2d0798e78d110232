"""The approvals inbox, the events pages (with why a push started no run) and workflows."""

from __future__ import annotations

import re

from tests.support import Server, eventually, write_workflow
from tests.uipages import csrf, person, text
from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.events.sources.registry import registry_payload
from tidegate.image_event import ImageEvent
from tidegate.store import events as store_events
from tidegate.store.db import Database
from tidegate.workflows import load_workflows

GATED = """
name: gated
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  approve:
    approval:
      approvers: [alice]
      message: "ship ${{ event.tag }} by ${{ event.pusher }}?"
  deploy:
    needs: [approve]
    steps:
      - run: "true"
"""

RELEASES = """
name: releases
on_unresolved: tag
on: {image: {repositories: ["acme/*"], tags: ["v*"]}}
jobs:
  test:
    steps:
      - run: "true"
"""

EVERYTHING = """
name: everything
on_unresolved: tag
on: {image: {repositories: ["acme/*"], sources: [dockerhub]}}
jobs:
  test:
    steps:
      - run: "true"
"""


def push(server: Server, reference: str, **fields: str) -> list[str]:
    answer = server.post_hook("dockerhub", dockerhub_payload(reference, **fields))
    assert answer.status_code == 202, answer.text
    return list(answer.json()["runs"])


def event_of(server: Server, run_id: str) -> str:
    return str(server.run(run_id)["event"]["id"])


def test_the_inbox_shows_approvals_the_person_may_decide_and_no_others(server: Server) -> None:
    write_workflow(server.settings, "gated", GATED)
    (run_id,) = push(server, "acme/web:v2", pusher="<script>alert(1)</script>")
    eventually(lambda: server.run(run_id)["status"] == "waiting")
    with person(server, "alice", "approver") as alice:
        page = alice.get("/approvals")
        assert page.status_code == 200
        seen = text(page.text)
        assert "docker.io/acme/web" in seen and "gated" in seen and "approve" in seen
        assert "ship v2 by <script>alert(1)</script>?" in seen and "0 of 1" in seen
        assert "<script>alert(1)" not in page.text  # shown as text, not markup
        assert f'href="/runs/{run_id}#approval"' in page.text
        assert 'aria-label="1 waiting for you"' in page.text  # the count in the navigation
    with person(server, "carol", "approver") as carol:  # an approver, not listed here
        page = carol.get("/approvals")
        assert page.status_code == 200
        assert run_id not in page.text
        assert "Nothing is waiting for you" in text(page.text)
    with person(server, "vera", "viewer") as vera:
        assert "does not decide approvals" in text(vera.get("/approvals").text)


def test_the_event_page_says_why_a_workflow_did_not_start(server: Server) -> None:
    write_workflow(server.settings, "releases", RELEASES)
    write_workflow(server.settings, "everything", EVERYTHING)
    (run_id,) = push(server, "acme/web:latest", pusher="<script>alert(1)</script>")
    server.wait_run(run_id)
    event_id = event_of(server, run_id)
    with person(server, "vera", "viewer") as vera:
        page = vera.get(f"/events/{event_id}")
        assert page.status_code == 200
        seen = text(page.text)
        assert "releases" in seen and "did not start a run" in seen
        assert "tags: v* does not match latest" in seen
        assert "<code>v*</code> does not match <code>latest</code>" in page.text
        assert f'href="/runs/{run_id}"' in page.text  # the run it started, for `everything`
        assert "docker.io/acme/web:latest" in seen
        # What the sender wrote is shown as text, never run as markup.
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "request's headers" in seen  # says what is not kept
        listing = vera.get("/events")
        assert listing.status_code == 200 and f"/events/{event_id}" in listing.text
        assert "<script>alert(1)" not in listing.text
        assert vera.get("/events/ev_0000000000000000000000").status_code == 404
        assert vera.get("/events/ev_a%00b").status_code == 404


def test_a_workflow_added_after_the_event_is_explained_and_replayed(server: Server) -> None:
    write_workflow(server.settings, "releases", RELEASES)
    answer = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1"))
    (run_id,) = answer.json()["runs"]
    server.wait_run(run_id)
    event_id = event_of(server, run_id)
    write_workflow(server.settings, "everything", EVERYTHING)
    with person(server, "alice", "approver") as alice:
        page = alice.get(f"/events/{event_id}")
        seen = text(page.text)
        assert "everything" in seen and "matches this event now, but no run" in seen
        replay = alice.post(f"/events/{event_id}/replay", data={"csrf_token": csrf(page.text)})
        assert replay.status_code == 303
        page = alice.get(f"/events/{event_id}")
        replayed = set(re.findall(r'href="/runs/(run_[0-9a-f]+)"', page.text)) - {run_id}
        assert replayed and "(replay)" in text(page.text)
        assert "matches this event now" not in text(page.text)
        for other in replayed:
            server.wait_run(other)
        forged = alice.post(f"/events/{event_id}/replay", data={"csrf_token": "forged"})
        assert forged.status_code == 403


def test_markup_in_a_stored_event_is_shown_as_text(server: Server) -> None:
    # Intake refuses such a tag today; an event stored before it did is shown all the same.
    hostile = "<script>alert(1)</script>"
    db = Database(server.settings.db_url)
    with db.session() as session:
        row = store_events.add_event(
            session,
            ImageEvent(
                source="dockerhub",
                delivery_id=hostile,
                registry="docker.io",
                repository="acme/web",
                tag=hostile,
                pusher=hostile,
                raw={"tag": hostile},
            ),
            None,
        )
        event_id = row.id
    db.dispose()
    with person(server, "vera", "viewer") as vera:
        for path in ("/events", f"/events/{event_id}"):
            page = vera.get(path)
            assert page.status_code == 200, path
            assert "<script>alert" not in page.text, path
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, path


def test_the_body_is_redacted_for_viewers_and_whole_for_admins(server: Server) -> None:
    secret = "https://registry.hub.docker.com/u/acme/web/hook/s3cr3t-part/"
    push(server, "acme/web:v1", callback_url=secret)
    with server.client() as api:
        (event,) = api.get("/api/v1/events").json()
    with person(server, "vera", "viewer") as vera:
        page = vera.get(f"/events/{event['id']}").text
        assert "s3cr3t-part" not in page
        assert "https://registry.hub.docker.com/***" in page
        assert "&#34;push_data&#34;" in page  # the body, pretty-printed JSON
    with person(server, "ada", "admin") as ada:
        page = ada.get(f"/events/{event['id']}").text
        assert "s3cr3t-part" in page


def test_events_filter_by_source_and_repository_and_page(server: Server) -> None:
    push(server, "acme/web:v1")
    push(server, "acme/api:v1")
    answer = server.post_hook("registry", registry_payload("team/db:v1"))
    assert answer.status_code == 202
    with person(server, "vera", "viewer") as vera:
        only_registry = text(vera.get("/events", params={"source": "registry"}).text)
        assert "team/db:v1" in only_registry and "acme/" not in only_registry
        only_api = text(vera.get("/events", params={"repository": "acme/api"}).text)
        assert "acme/api:v1" in only_api and "acme/web" not in only_api
        first = vera.get("/events", params={"limit": 2}).text
        assert "team/db:v1" in text(first) and "acme/api:v1" in text(first)
        older = re.search(r'href="(/events\?[^"]+)" rel="next"', first)
        assert older and "acme/web" not in text(first)
        second = text(vera.get(older.group(1).replace("&amp;", "&")).text)
        assert "acme/web:v1" in second and "team/db" not in second
        assert vera.get("/events", params={"repository": "a\x00b"}).status_code == 422
        assert vera.get("/events", params={"source": "nope"}).status_code == 422


def test_workflows_page_lists_loaded_workflows_and_files_with_problems(server: Server) -> None:
    write_workflow(server.settings, "releases", RELEASES)
    write_workflow(server.settings, "broken", "name: broken\non: {image: {repositories: [x]}}\n")
    (run_id,) = push(server, "acme/web:v3")
    server.wait_run(run_id)
    problems = [str(p) for p in load_workflows(server.settings.workflows).problems]
    assert problems and all("broken.yaml:" in p for p in problems)
    with person(server, "vera", "viewer") as vera:
        page = vera.get("/workflows")
        assert page.status_code == 200
        seen = text(page.text)
        assert "releases" in seen and "releases.yaml" in seen
        assert "acme/*" in seen and "v*" in seen and "any registry" in seen
        assert "test: 1 step (run)" in seen
        assert f'href="/runs/{run_id}"' in page.text
        for line in problems:  # as `tidegate validate` prints them: file:line:column: message
            assert line in seen
