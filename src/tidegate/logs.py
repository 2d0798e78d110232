"""The server's own log: one readable line per thing that happened, or JSON lines.

`note` records what an operator watches for (a webhook, a run starting and ending, a
decision, a workflow file that stopped loading); `configure` (once, at `serve` start)
sends it, structlog's events and other libraries' records to stderr in one format:

    2026-12-05T03:21:07Z run run_01a2… web-release succeeded in 4.2s

or, with `TIDEGATE_LOG_FORMAT=json`, one JSON object per line for log shippers.
Without `configure` (tests, the CLI) `note` is silent: the root logger drops INFO.

Callers put no secret in a note: no hook or callback URL, no token, no raw body.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

ACTIVITY = "tidegate.activity"
FORMATS = ("text", "json")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the CLI's format too (cli.base.shown_time)
MAX_TEXT = 200  # one value's share of a line: a hostile tag must not fill the screen

_activity = logging.getLogger(ACTIVITY)
_FIELDS = "tidegate_fields"  # the LogRecord attribute `note` puts its fields in


def note(kind: str, message: str, **fields: Any) -> None:
    """One line of activity: `message` for people, `kind` and `fields` for machines."""
    _activity.info(message, extra={_FIELDS: {"kind": kind, **fields}})


def clean(text: str, limit: int = MAX_TEXT) -> str:
    """`text` safe on one log line: control characters escaped, cut to `limit`.

    Event fields come from webhook senders; a newline in one must not forge a line.
    """
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class CancelledTasks(logging.Filter):
    """Counts DBOS's "Asyncio task cancelled" warnings instead of printing them.

    A shutdown cancels every waiting run's tasks, and DBOS warns once per workflow and
    step: thousands of lines that all mean "stopped; resumes on the next start".
    """

    PREFIX = "Asyncio task cancelled"

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(self.PREFIX):
            self.count += 1
            return False
        return True

    def summarise(self) -> None:
        """One line for what was counted; then start counting again."""
        if self.count:
            note(
                "shutdown.cancelled",
                f"shutdown: stopped {self.count} workflow tasks (waiting runs resume on the "
                "next start)",
                tasks=self.count,
            )
        self.count = 0


cancelled_tasks = CancelledTasks()


def configure(fmt: str = "text", stream: Any = None) -> None:
    """Route every log record to `stream` (stderr) as text or JSON lines.

    Tidegate's own loggers speak from INFO; other libraries from WARNING, as before
    (httpx logs each request's URL at INFO).
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    import structlog  # here: the CLI reads TIME_FORMAT and never configures (~80 ms)

    shared: list[Processor] = [
        structlog.processors.TimeStamper(fmt=TIME_FORMAT, utc=True),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _record_fields,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Tracebacks as plain text in both formats: structlog's structured ones show locals.
    render: list[Processor] = (
        [
            structlog.processors.EventRenamer("message", replace_by="kind"),
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
        if fmt == "json"
        else [_text_line]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            *render,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("tidegate").setLevel(logging.INFO)
    # DBOS adds a console handler of its own unless its logger has one already.
    dbos = logging.getLogger("dbos")
    dbos.handlers = [handler]
    dbos.propagate = False
    if cancelled_tasks not in dbos.filters:
        dbos.addFilter(cancelled_tasks)


def _record_fields(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    fields = getattr(record, _FIELDS, None)
    if isinstance(fields, dict):
        event_dict.update(fields)
    return event_dict


def _text_line(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> str:
    """`TIME MESSAGE` for activity; `TIME LEVEL LOGGER: MESSAGE key=value…` otherwise."""
    stamp = event_dict.pop("timestamp", "")
    level = str(event_dict.pop("level", "info"))
    logger = event_dict.pop("logger", "")
    message = str(event_dict.pop("event", ""))
    trace = event_dict.pop("exception", None)
    if logger == ACTIVITY:
        line = f"{stamp} {message}"
    else:
        extras = "".join(f" {key}={value}" for key, value in event_dict.items())
        line = f"{stamp} {level.upper()} {logger}: {message}{extras}"
    return f"{line}\n{trace}" if trace else line
