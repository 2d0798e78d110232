"""The job graph: an SVG drawn on the server, columns by depth in the `needs` DAG.

No script lays it out (the page's policy allows none inline, and reading must work
without JavaScript): a job's column is one more than its deepest need's, its row within
the column follows its needs' rows (fewer crossing lines), and each line runs from a
need's right edge to the job's left, through a free slot of each column it passes.
`finally` stands apart in a last column. Colours come from classes (run.css); every
node is a link to the job's steps below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from tidegate.web.ui.jobs import JobView

NODE_W = 188
NODE_H = 50
GAP_X = 52
GAP_Y = 14
PAD = 6
NAME_CHARS = 22  # what fits in a node at the page's font size

ICONS = {
    "succeeded": "✓",
    "failed": "✗",
    "timed_out": "✗",
    "cancelled": "⊘",
    "skipped": "\u2013",
    "running": "●",
    "waiting": "‖",
    "queued": "○",
}


def depths(jobs: Sequence[JobView]) -> dict[str, int]:
    """Each job's column: 0 without needs, else one past its deepest need."""
    needs = {job.job_id: list(job.needs) for job in jobs}
    found: dict[str, int] = {}

    def depth(job_id: str, seen: frozenset[str]) -> int:
        if job_id in found:
            return found[job_id]
        # Needs naming no job (an old snapshot) or a loop (never valid) count as none.
        parents = [n for n in needs.get(job_id, []) if n in needs and n not in seen]
        found[job_id] = 1 + max((depth(n, seen | {job_id}) for n in parents), default=-1)
        return found[job_id]

    for job in jobs:
        depth(job.job_id, frozenset())
    return found


# A slot in the grid: a job's id, or a waypoint (need, job, column) of a line that
# passes a column between them, so the line runs in a free slot instead of under a job.
Slot = str | tuple[str, str, int]


@dataclass
class Layout:
    place: dict[Slot, tuple[int, int]]  # (column, row) of every job and waypoint
    routes: dict[tuple[str, str], list[Slot]]  # (need, job) → the slots the line passes


def layout(jobs: Sequence[JobView]) -> Layout:
    """Columns by depth; within a column, each slot near the mean row of what leads to it
    (fewer crossings), ties in the workflow's order."""
    real = [job for job in jobs if not job.is_finally]
    column_of = depths(real)
    columns: dict[int, list[Slot]] = {}
    leads_to: dict[Slot, list[Slot]] = {}  # a slot → the slots its lines come from
    routes: dict[tuple[str, str], list[Slot]] = {}
    for job in real:
        columns.setdefault(column_of[job.job_id], []).append(job.job_id)
    for job in real:
        sources: list[Slot] = []
        for need in job.needs:
            if need not in column_of:
                continue
            route: list[Slot] = []
            previous: Slot = need
            for column in range(column_of[need] + 1, column_of[job.job_id]):
                waypoint = (need, job.job_id, column)
                columns.setdefault(column, []).append(waypoint)
                leads_to[waypoint] = [previous]
                route.append(waypoint)
                previous = waypoint
            routes[(need, job.job_id)] = route
            sources.append(previous)
        leads_to[job.job_id] = sources
    place: dict[Slot, tuple[int, int]] = {}
    for column in sorted(columns):
        pulled = []
        for order, slot in enumerate(columns[column]):
            rows = [place[n][1] for n in leads_to.get(slot, []) if n in place]
            pulled.append((sum(rows) / len(rows) if rows else float(order), order))
        for row, (_pull, order) in enumerate(sorted(pulled)):
            place[columns[column][order]] = (column, row)
    last = max((col for col, _ in place.values()), default=-1)
    for job in jobs:
        if job.is_finally:
            place[job.job_id] = (last + 1, 0)
    return Layout(place, routes)


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def render_graph(jobs: Sequence[JobView]) -> Markup:
    """The SVG, or nothing for a run without jobs."""
    if not jobs:
        return Markup("")
    grid = layout(jobs)
    columns = max(col for col, _ in grid.place.values()) + 1
    rows = max(row for _, row in grid.place.values()) + 1
    width = PAD * 2 + columns * NODE_W + (columns - 1) * GAP_X
    height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y

    def origin(slot: Slot) -> tuple[int, int]:
        col, row = grid.place[slot]
        return PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y)

    edges: list[str] = []
    nodes: list[str] = []
    for job in jobs:
        x, y = origin(job.job_id)
        for need in job.needs:
            if (need, job.job_id) not in grid.routes:
                continue
            nx, ny = origin(need)
            # Through each waypoint's slot straight across, curving between slots.
            points = [(nx + NODE_W, ny + NODE_H // 2)]
            for waypoint in grid.routes[(need, job.job_id)]:
                wx, wy = origin(waypoint)
                points += [(wx, wy + NODE_H // 2), (wx + NODE_W, wy + NODE_H // 2)]
            points.append((x, y + NODE_H // 2))
            d = f"M{points[0][0]} {points[0][1]}"
            for (x1, y1), (x2, y2) in zip(points[::2], points[1::2], strict=True):
                bend = (x2 - x1) // 2
                d += f" L{x1} {y1} C{x1 + bend} {y1} {x2 - bend} {y2} {x2} {y2}"
            edges.append(f'<path class="edge st-{escape(job.status)}" d="{d}"/>')
        icon = ICONS.get(job.status, "•")
        status = job.status.replace("_", " ")
        meta = f"{icon} {status}" + (f" · {job.duration}" if job.duration else "")
        label = f"{job.job_id}: {status}" + (f", {job.duration}" if job.duration else "")
        nodes.append(
            f'<a href="#job-{escape(job.job_id)}" aria-label="{escape(label)}">'
            f"<title>{escape(label)}</title>"
            f'<rect class="node st-{escape(job.status)}{" fin" if job.is_finally else ""}" '
            f'x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text class="name" x="{x + 10}" y="{y + 20}">{escape(_short(job.job_id))}</text>'
            f'<text class="meta st-{escape(job.status)}" x="{x + 10}" y="{y + 39}">'
            f"{escape(meta)}</text></a>"
        )
    return Markup(  # noqa: S704 - every value inside went through escape()
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="group" '
        f'aria-label="Job graph">{"".join(edges)}{"".join(nodes)}</svg>'
    )
