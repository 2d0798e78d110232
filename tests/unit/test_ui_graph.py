"""The job graph's layout: columns by depth in `needs`, lines through free slots."""

from __future__ import annotations

import re

from tidegate.web.ui.graph import depths, layout, render_graph
from tidegate.web.ui.jobs import JobView


def job(job_id: str, *needs: str, status: str = "succeeded") -> JobView:
    return JobView(job_id, status, tuple(needs), "1s", ())


def test_columns_follow_the_deepest_need() -> None:
    jobs = [job("build"), job("lint"), job("test", "build"), job("publish", "test", "lint")]
    assert depths(jobs) == {"build": 0, "lint": 0, "test": 1, "publish": 2}


def test_needs_that_name_no_job_count_as_none() -> None:
    assert depths([job("a", "gone"), job("b", "a")]) == {"a": 0, "b": 1}


def test_a_line_past_a_column_runs_through_a_free_slot() -> None:
    jobs = [job("build"), job("lint"), job("test", "build"), job("publish", "test", "lint")]
    grid = layout(jobs)
    assert grid.place["build"] == (0, 0) and grid.place["test"] == (1, 0)
    (waypoint,) = grid.routes[("lint", "publish")]
    assert grid.place[waypoint][0] == 1 and grid.place[waypoint] != grid.place["test"]
    assert grid.routes[("test", "publish")] == []


def test_finally_stands_in_its_own_last_column() -> None:
    grid = layout([job("a"), job("b", "a"), JobView("finally", "succeeded", (), "", ())])
    assert grid.place["finally"] == (2, 0)


def test_the_svg_links_each_job_and_escapes_names() -> None:
    svg = str(render_graph([job("a"), job("b", "a", status="failed")]))
    assert svg.startswith('<svg class="graph"') and "<script" not in svg
    assert 'href="#job-a"' in svg and 'href="#job-b"' in svg
    assert len(re.findall("<path ", svg)) == 1
    assert 'aria-label="b: failed, 1s"' in svg
    assert str(render_graph([])) == ""
