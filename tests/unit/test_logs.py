"""The server's log: readable lines or JSON lines, one per thing that happened."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog

from tidegate import logs

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """`configure` changes process-wide logging: put it back afterwards."""
    root, tidegate, dbos = (logging.getLogger(n) for n in ("", "tidegate", "dbos"))
    saved = (root.handlers[:], root.level, tidegate.level, dbos.handlers[:], dbos.propagate)
    try:
        yield io.StringIO()
    finally:
        root.handlers, root.level, tidegate.level = saved[0], saved[1], saved[2]
        dbos.handlers, dbos.propagate = saved[3], saved[4]
        dbos.removeFilter(logs.cancelled_tasks)
        structlog.reset_defaults()


def test_text_lines(stream: io.StringIO) -> None:
    logs.configure("text", stream)
    logs.note("run.started", "run run_1 hello started", run_id="run_1")
    logging.getLogger("tidegate.pushback.callback").warning("callback to %s failed", "x/***")
    structlog.get_logger("tidegate.engine.service").error("run.start_failed", run_id="run_2")
    logging.getLogger("httpx2").info("HTTP Request: POST http://secret.example/hook/abc")
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(rf"{STAMP} run run_1 hello started", lines[0])
    assert re.fullmatch(
        rf"{STAMP} WARNING tidegate.pushback.callback: callback to x/\*\*\* failed", lines[1]
    )
    assert re.fullmatch(
        rf"{STAMP} ERROR tidegate.engine.service: run.start_failed run_id=run_2", lines[2]
    )
    assert len(lines) == 3  # other libraries speak from WARNING: httpx's URLs stay out


def test_json_lines(stream: io.StringIO) -> None:
    logs.configure("json", stream)
    logs.note("run.finished", "run run_1 hello succeeded in 1.0s", run_id="run_1", seconds=1.0)
    logging.getLogger("dbos").warning("something")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "run.finished" and first["message"].startswith("run run_1 hello")
    assert first["run_id"] == "run_1" and re.fullmatch(STAMP, first["timestamp"])
    assert second["level"] == "warning" and second["logger"] == "dbos"
    with pytest.raises(ValueError, match="text, json"):
        logs.configure("yaml", stream)


def test_dbos_cancelled_tasks_are_one_summary_line(stream: io.StringIO) -> None:
    logs.configure("text", stream)
    dbos = logging.getLogger("dbos")
    for n in range(1000):
        dbos.warning(f"Asyncio task cancelled for workflow or step <function wait {n}>")
    dbos.warning("a warning that is not about cancelled tasks")
    logs.cancelled_tasks.summarise()
    logs.cancelled_tasks.summarise()  # nothing new: nothing said
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "not about cancelled tasks" in lines[0]
    assert re.fullmatch(rf"{STAMP} shutdown: stopped 1000 workflow tasks .*", lines[1])


def test_clean_keeps_a_value_on_its_line() -> None:
    assert logs.clean("v1\n2026 run forged\x1b[31m") == "v1\\n2026 run forged\\x1b[31m"
    assert len(logs.clean("x" * 1000)) == logs.MAX_TEXT
