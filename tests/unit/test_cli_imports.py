"""Each command loads only what it needs: the commands that talk to the API or to a
registry start without the server's modules (SQLAlchemy, Alembic, FastAPI, DBOS) or the
CEL grammar, and `tidegate --version` without even Typer. Each case runs `tidegate` in a
fresh interpreter, as a person would, and reads `sys.modules` when it has finished."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tidegate import __version__
from tidegate.cli import COMMANDS, app

SERVER_MODULES = {"sqlalchemy", "alembic", "fastapi", "dbos", "starlette", "uvicorn"}
# Where nothing listens: the command runs to its request, which fails (exit 1).
NOBODY = "127.0.0.1:9"

PROBE = """
import json, sys
out, args = sys.argv[1], json.loads(sys.argv[2])
if args is None:
    import tidegate.cli
    code = 0
else:
    from tidegate.cli import main
    sys.argv = ["tidegate", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
with open(out, "w") as handle:
    json.dump({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}, handle)
"""


def tidegate(tmp_path: Path, args: list[str] | None) -> tuple[int, set[str], str]:
    """Exit code, top-level packages loaded, and output of `tidegate ARGS` (None: only
    `import tidegate.cli`)."""
    found = tmp_path / "found.json"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TIDEGATE_URL": f"http://{NOBODY}",
        "TIDEGATE_TOKEN": "tg_not_a_real_token",
        "TIDEGATE_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(found), json.dumps(args)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.exists(), done.stderr
    result = json.loads(found.read_text())
    return result["code"], set(result["modules"]), done.stdout + done.stderr


def test_import_tidegate_cli_is_light(tmp_path: Path) -> None:
    code, modules, _ = tidegate(tmp_path, None)
    assert code == 0
    assert not modules & (SERVER_MODULES | {"typer", "rich", "celpy", "pydantic"})


def test_version_loads_nothing_but_itself(tmp_path: Path) -> None:
    code, modules, said = tidegate(tmp_path, ["--version"])
    assert code == 0 and said.strip() == f"tidegate {__version__}"
    assert not modules & (SERVER_MODULES | {"typer", "rich", "click", "httpx2"})


API_AND_REGISTRY = [
    ["promote", "--help"],
    ["runs", "--help"],
    ["runs"],
    ["run", "show", "run_x"],
    ["events", "--json"],
    ["logs", "run_x"],
    ["approve", "run_x"],
    ["reject", "ap_x", "--comment", "no"],
    ["cancel", "run_x"],
    ["rerun", "run_x"],
    ["replay", "ev_x"],
    ["simulate", "registry", "acme/app:v1", "--hook-url", "/hooks/registry/x"],
    ["promote", f"{NOBODY}/acme/app:v1", f"{NOBODY}/acme/app:v2"],
]


@pytest.mark.parametrize("args", API_AND_REGISTRY, ids=" ".join)
def test_api_and_registry_commands_start_without_the_server(
    tmp_path: Path, args: list[str]
) -> None:
    code, modules, said = tidegate(tmp_path, args)
    if "--help" in args:
        assert code == 0 and "Usage:" in said
    else:  # it ran as far as its request: nobody answers there
        assert code == 1 and "error" in said, said
    loaded = modules & (SERVER_MODULES | {"celpy", "lark"})
    assert not loaded, f"tidegate {' '.join(args)} imported {sorted(loaded)}"


# A retag's start is most of its time on a near registry (bench/cli.py): `tidegate
# promote` reads its few settings without pydantic(-settings), parses SRC DST without
# Typer (or click, under it) and its pydantic coercion, prints plain lines without
# rich, and speaks HTTP through registry/transport.py, not httpcore2 (whose locks
# import anyio's asyncio backend, ~8 ms).
PROMOTE_SKIPS = {"pydantic", "pydantic_settings", "pydantic_core", "rich", "typer", "click"}
PROMOTE_SKIPS |= {"httpcore2", "anyio"}


@pytest.mark.parametrize(
    "args",
    [
        ["promote", f"{NOBODY}/acme/app:v1", f"{NOBODY}/acme/app:v2"],
        ["promote", "--json", f"{NOBODY}/acme/app:v1", f"{NOBODY}/acme/app:v2", "--signatures"],
        ["promote", f"{NOBODY}/Not/Valid:v1", f"{NOBODY}/acme/app:v2"],  # bench's start-up
    ],
    ids=" ".join,
)
def test_promote_starts_without_typer_pydantic_or_rich(tmp_path: Path, args: list[str]) -> None:
    code, modules, said = tidegate(tmp_path, args)
    assert code == 1 and said.startswith("error: "), said
    loaded = modules & PROMOTE_SKIPS
    assert not loaded, f"tidegate {' '.join(args)} imported {sorted(loaded)}"


def test_each_command_is_found_in_its_module() -> None:
    """`main` imports the module COMMANDS names for a command, and only that one."""
    registered = {}
    for command in app.registered_commands:
        assert command.callback is not None
        registered[command.name or command.callback.__name__] = command.callback.__module__
    for group in app.registered_groups:
        assert group.typer_instance is not None and group.name is not None
        first = group.typer_instance.registered_commands[0].callback
        registered[group.name] = first.__module__ if first else ""
    assert registered == {name: f"tidegate.cli.{module}" for name, module in COMMANDS.items()}
