"""Screenshots of the web UI for docs/ui.md, taken from a real run so they stay true.

Starts a server in this process (SQLite in a temporary directory), makes a few runs with
webhooks — one that succeeds with a coloured log, one waiting for approval, a push no
workflow takes — signs in with Debian's Chromium (Playwright) and saves a PNG per page
to docs/img/. Run it with `scripts/screenshots`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM_FLAGS, chromium  # noqa: E402
from tests.e2e.browser import PASSWORD, add_people  # noqa: E402
from tests.support import make_settings, start_server, write_workflow  # noqa: E402

from tidegate.events.sources.dockerhub import dockerhub_payload  # noqa: E402

OUT = ROOT / "docs" / "img"
WORKFLOW = """
name: web-release
on_unresolved: tag
on:
  image:
    repositories: ["acme/web"]
    tags: ["v*"]
jobs:
  smoke:
    steps:
      - name: self-test
        run: |
          printf '\\033[1mchecking\\033[0m %s\\n' "$TIDEGATE_IMAGE"
          for t in health login search checkout; do
            printf '  \\033[32mok\\033[0m %s\\n' "$t"
          done
  approve:
    needs: [smoke]
    approval:
      approvers: [alice, "group:release"]
      message: "Promote ${{ event.tag }} to production?"
      timeout: 72h
  promote:
    needs: [approve]
    steps:
      - run: echo "would promote $TIDEGATE_IMAGE"
"""
HELLO = """
name: hello
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  hello:
    steps:
      - run: |
          echo "Hello from Tidegate: $TIDEGATE_IMAGE was pushed by $TIDEGATE_PUSHER"
          printf '\\033[33mwarning\\033[0m no tests configured for %s\\n' "$TIDEGATE_REPOSITORY"
"""


def shoot(page: Page, url: str, name: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / f"{name}.png", full_page=True)
    print(f"docs/img/{name}.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp))
        write_workflow(settings, "web-release", WORKFLOW)
        write_workflow(settings, "hello", HELLO)
        add_people({"TIDEGATE_DATA_DIR": str(settings.data_dir)}, "", {"alice": "approver"})
        server = start_server(settings)
        waiting = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1.4.0", pusher="dana"))
        (hello_run, release_run) = sorted(
            waiting.json()["runs"], key=lambda r: server.run(r)["workflow_name"]
        )
        server.wait_run(hello_run)
        server.wait_run(release_run, ("waiting",))
        latest = server.post_hook("dockerhub", dockerhub_payload("acme/web:latest", pusher="dana"))
        (event_id,) = latest.json()["events"]
        for run_id in latest.json()["runs"]:
            server.wait_run(run_id)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{server.url}/login")
            shoot(page, f"{server.url}/login", "signin")
            page.get_by_label("User name").fill("alice")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{server.url}/")
            shoot(page, f"{server.url}/runs", "runs")
            shoot(page, f"{server.url}/runs/{release_run}", "run-approval")
            shoot(page, f"{server.url}/runs/{hello_run}", "run-log")
            shoot(page, f"{server.url}/approvals", "approvals")
            shoot(page, f"{server.url}/events/{event_id}", "event-why")
            shoot(page, f"{server.url}/workflows", "workflows")
            browser.close()
        server.stop()


if __name__ == "__main__":
    main()
