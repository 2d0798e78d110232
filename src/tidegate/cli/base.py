"""What every command shares: the Typer apps, the consoles, settings, the API client.

Light by design: every command imports this, and `tidegate runs` or `tidegate promote`
must start without the database's modules (those are in `database`). `tidegate promote`
starts without pydantic and rich too: cli/registry_settings.py reads the few settings it
needs (by config.Settings' rules), and the consoles are made on first use. It starts
without Typer as well (cli/promoting.py): what it prints with is in `output`, re-exported
here for the other commands.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperOption

from tidegate import __version__
from tidegate.cli.output import console, say_error
from tidegate.cli.output import print_json as print_json
from tidegate.errors import TidegateError
from tidegate.logs import TIME_FORMAT

if TYPE_CHECKING:
    from rich.console import Console

    from tidegate.cli.api_client import ApiClient
    from tidegate.config import Settings

    out: Console
    err: Console

HELP = {"help_option_names": ["-h", "--help"]}  # inherited by every subcommand

# Tracebacks never print local variables: they may hold tokens and database URLs.
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Tidegate: registry webhooks → digest-pinned workflows → promotion.",
    pretty_exceptions_show_locals=False,
    context_settings=HELP,
)
hook_app = typer.Typer(no_args_is_help=True, help="Webhook endpoints.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
db_app = typer.Typer(no_args_is_help=True, help="The database schema.")
app.add_typer(hook_app, name="hook")
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")


def __getattr__(name: str) -> object:
    """`out` and `err`, rich consoles, made on first use (`output.console`)."""
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return console(name)


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _show_version(value: bool) -> None:
    if value:
        console("out").print(f"tidegate {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Tidegate: registry webhooks → digest-pinned workflows → promotion."""


def _flags_take_no_value() -> None:
    """Typer 0.29's rich help gives every option a value type, `<bool>` to flags that
    take none; its plain help leaves it out. Do the same in the rich panels."""
    typed = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag or self.count else typed(self, ctx)

    setattr(TyperOption, "display_type_rich", display_type_rich)  # noqa: B010


_flags_take_no_value()


def fail(message: str) -> typer.Exit:
    say_error(message)
    return typer.Exit(1)


def settings() -> Settings:
    return _located()[0]


def _located() -> tuple[Settings, str]:
    """The settings, with the server a `tidegate serve` recorded in the data directory
    where `TIDEGATE_URL` (or `url` in tidegate.toml) names none; and where the URL came
    from: "set", "recorded" or "default"."""
    from tidegate.cli.data_files import read_server
    from tidegate.config import load_settings

    cfg = load_settings()
    if "url" in cfg.model_fields_set:
        return cfg, "set"
    recorded = read_server(cfg)
    if recorded is None:
        return cfg, "default"
    update: dict[str, Any] = {"url": recorded.url}
    if not {"public_url", "host", "port"} & cfg.model_fields_set:
        update["public_url"] = recorded.base_url  # hook URLs name the port it listens on
    return cfg.model_copy(update=update), "recorded"


def client() -> ApiClient:
    """A client for the configured server, with hints that say where its URL and token
    came from, for when it does not answer or refuses the token."""
    from tidegate.cli.api_client import ApiClient  # httpx: the API's commands only
    from tidegate.cli.data_files import credentials_path, read_credentials

    cfg, origin = _located()
    creds = credentials_path(cfg)
    if cfg.token:
        token: str | None = cfg.token.get_secret_value()
        refused = "the token in TIDEGATE_TOKEN was refused: revoked, or made for another server"
    else:
        first = read_credentials(cfg)  # a newcomer's server on this machine
        token = (first.admin_token if first else "") or None
        refused = (
            f"the first-start admin token in {creds} was refused: revoked, or that file "
            "belongs to another server; set TIDEGATE_TOKEN"
        )
    if token is None:
        refused = (
            "no API token was sent: set TIDEGATE_TOKEN (`tidegate token create NAME` makes "
            "one), or run this where `tidegate serve` runs: it keeps the first-start admin "
            f"token in {creds}, and there is none"
        )
    if origin == "set":
        unreachable = "is the server running there? TIDEGATE_URL names it"
    elif origin == "recorded":
        unreachable = (
            f"the last `tidegate serve` with data directory {cfg.data_dir} listened there "
            "(server.json); is it running? Set TIDEGATE_URL to reach another server"
        )
    else:
        unreachable = (
            "is `tidegate serve` running? Run this where it runs (it records its URL in "
            f"{cfg.data_dir}), or set TIDEGATE_URL to its URL"
        )
    return ApiClient(cfg.url, token, hints={401: refused}, unreachable_hint=unreachable)


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """`fn(...)`; a refusal or an unreachable server ends the command with its message."""
    try:
        return fn(*args, **kwargs)
    except TidegateError as exc:
        raise fail(exc.message) from exc


def waiting_line(run_id: str, status: str, waiting: dict[str, Any] | None) -> str:
    """`run_… is queued: concurrency key K is held by run_… (waiting for approval ap_…)`,
    `run_… is waiting for approval ap_… (job approve) from admin`."""
    if not waiting:
        return f"{run_id} is {status}"
    if status == "waiting":
        return f"{run_id} is {waiting['message']}"
    return f"{run_id} is {status}: {waiting['message']}"


def shown_time(value: datetime | str | None) -> str:
    """A time as the CLI prints it everywhere: `2026-12-05T03:21:07Z`, in UTC."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        when = value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime(TIME_FORMAT)


def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    from rich.table import Table  # only where a table is printed

    t = Table(*columns, box=None, pad_edge=False)
    for row in rows:
        t.add_row(*(_cell(c, row.get(c)) for c in columns))
    console("out").print(t)


def _cell(column: str, value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if column.endswith("_at") and isinstance(value, str | datetime):
        return shown_time(value)
    return "" if value is None else str(value)
