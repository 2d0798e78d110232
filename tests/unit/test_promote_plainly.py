"""`tidegate promote SRC DST [flags]` runs without Typer's parsing (promoting.py
`run_plainly`): it must take exactly the command's flags, answer as Typer would, and
leave anything else (help, typos, `--`) to Typer."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from tidegate.cli import app
from tidegate.cli.promoting import FLAGS, run_plainly

NOBODY = "127.0.0.1:9"


def test_takes_the_commands_flags_and_no_others() -> None:
    promote = typer.main.get_command(app).commands["promote"]  # type: ignore[attr-defined]
    options = {
        opt: param.name
        for param in promote.params
        if param.param_type_name == "option" and param.name != "help"
        for opt in (*param.opts, *param.secondary_opts)
    }
    assert options == FLAGS


@pytest.mark.parametrize(
    "args",
    [
        [f"{NOBODY}/Not/Valid:v1", f"{NOBODY}/acme/app:v2"],
        ["--json", f"{NOBODY}/acme/app:v1", f"{NOBODY}/Acme/app:v2", "--signatures"],
        [f"{NOBODY}/acme/app:v1", "not a reference"],
    ],
)
def test_answers_as_typer_does(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEGATE_REGISTRY_ALLOWED_HOSTS", NOBODY)
    code = run_plainly(args)
    said = capsys.readouterr()
    typed = CliRunner().invoke(app, ["promote", *args])
    assert (code, said.out, said.err) == (typed.exit_code, typed.stdout, typed.stderr)
    assert code == 1 and said.err.startswith("error: invalid reference")


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h", "a/b:c", "a/b:d"],
        ["a/b:c"],
        ["a/b:c", "a/b:d", "a/b:e"],
        ["--", "a/b:c", "a/b:d"],
        ["--json=true", "a/b:c", "a/b:d"],
        ["--sigs", "a/b:c", "a/b:d"],
    ],
)
def test_leaves_anything_else_to_typer(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_plainly(args) is None
    assert capsys.readouterr() == ("", "")
