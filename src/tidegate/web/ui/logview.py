"""A run's log on its page: a window of lines, numbered, coloured, grouped by step.

A log may hold tens of thousands of lines, so a page shows `WINDOW` of them (the end,
by default) and says how many lie before and after; the lines are HTML built here once,
escaped first (ansi.py), and reused by the live stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from tidegate.store import logs as store_logs
from tidegate.web.ui.ansi import to_html

WINDOW = 1000

StepKey = tuple[str, int]  # (job id, step index)
SEPARATOR = " \u203a "  # between a job and its step in headings


@dataclass(frozen=True)
class LogWindow:
    """Lines `first_number` … of `total`; `earlier` and `later` lie outside the window."""

    html: Markup
    total: int
    first_id: int | None
    last_id: int | None
    first_number: int
    earlier: int
    later: int
    last_step: StepKey | None

    @property
    def tail(self) -> bool:
        """Whether the window reaches the log's end (where live lines arrive)."""
        return self.later == 0

    @property
    def last_number(self) -> int:
        return self.first_number + self.total - self.earlier - self.later - 1


def step_label(names: Mapping[StepKey, str], key: StepKey) -> str:
    job_id, index = key
    if index < 0:
        return f"{job_id}{SEPARATOR}services"
    name = names.get(key)
    return f"{job_id}{SEPARATOR}{name}" if name else f"{job_id}{SEPARATOR}step {index + 1}"


class Line(Protocol):
    """A stored line as the page needs it (an ORM row or a plain result row)."""

    @property
    def id(self) -> int: ...
    @property
    def job_id(self) -> str: ...
    @property
    def step_index(self) -> int: ...
    @property
    def stream(self) -> str: ...
    @property
    def text(self) -> str: ...


def render_lines(
    lines: Iterable[Line],
    first_number: int,
    names: Mapping[StepKey, str],
    previous: StepKey | None = None,
) -> tuple[Markup, StepKey | None]:
    """The lines as HTML, a heading wherever the step changes; and the last line's step."""
    parts: list[str] = []
    number = first_number
    step_attr, current = "", None  # the data-step value, and the step it is for
    for line in lines:
        key = (line.job_id, line.step_index)
        if key != previous:
            parts.append(f'<div class="lh">{escape(step_label(names, key))}</div>')
            previous = key
        if key != current:
            step_attr, current = f"{escape(key[0])}#{key[1]}", key
        text = line.text
        if "\r" in text:  # progress bars redraw with CR: a terminal shows the last
            text = next((part for part in reversed(text.split("\r")) if part), "")
        kind = " err" if line.stream == "stderr" else ""
        parts.append(
            f'<div class="ln{kind}" id="l{line.id}" data-step="{step_attr}">'
            f'<a class="no" href="#l{line.id}" tabindex="-1" aria-hidden="true">{number}</a>'
            f'<span class="tx">{to_html(text)}</span></div>'
        )
        number += 1
    return Markup("".join(parts)), previous  # noqa: S704 - built from escaped parts


def read_window(
    session: Session,
    run_id: str,
    names: Mapping[StepKey, str],
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = WINDOW,
) -> LogWindow:
    """`size` lines ending before `before`, or starting after `after`; else the end."""
    lines = store_logs.page_of_lines(session, run_id, before_id=before, after_id=after, limit=size)
    tail = before is None and after is None
    if not lines:  # no output yet; or a window past either end, where the end is shown
        if tail:
            return LogWindow(Markup(""), 0, None, None, 1, 0, 0, None)
        return read_window(session, run_id, names, size=size)
    # Counted around the page itself, so the numbers agree with it even while lines
    # arrive; at the log's end nothing lies after (new lines come by the live stream).
    earlier = store_logs.count_lines(session, run_id, before_id=lines[0].id)
    later = 0 if tail else store_logs.count_lines(session, run_id, after_id=lines[-1].id)
    html, last_step = render_lines(lines, earlier + 1, names)
    return LogWindow(
        html=html,
        total=earlier + len(lines) + later,
        first_id=lines[0].id,
        last_id=lines[-1].id,
        first_number=earlier + 1,
        earlier=earlier,
        later=later,
        last_step=last_step,
    )
