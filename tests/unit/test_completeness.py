"""Every plug-in has its recorded fixtures and its place in the docs."""

from __future__ import annotations

from pathlib import Path

from tidegate.engine.steps import STEP_KINDS
from tidegate.events.sources import SOURCES
from tidegate.executors import EXECUTORS
from tidegate.workflows import STEP_KINDS as SCHEMA_STEP_KINDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_every_source_has_fixtures_and_docs() -> None:
    sources_doc = (DOCS / "sources.md").read_text()
    for name in SOURCES:
        assert list((ROOT / "tests" / "fixtures" / "webhooks" / name).glob("*.expected.json")), name
        assert f"`{name}`" in sources_doc, name


def test_every_step_kind_is_in_the_schema_and_documented() -> None:
    headings = [
        line for line in (DOCS / "workflows.md").read_text().splitlines() if line.startswith("### ")
    ]
    for kind in STEP_KINDS:
        assert kind in SCHEMA_STEP_KINDS, kind
    for kind in SCHEMA_STEP_KINDS:
        assert any(f"`{kind}`" in heading for heading in headings), kind


def test_every_executor_is_documented() -> None:
    text = "".join(p.read_text() for p in DOCS.glob("*.md"))
    for name in EXECUTORS:
        assert f"`{name}`" in text or f"{name} executor" in text, name


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    for page in ("quickstart", "workflows", "sources", "api", "operations"):
        assert f"docs/{page}.md" in readme
        assert (DOCS / f"{page}.md").exists()
