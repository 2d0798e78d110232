"""`${{ }}` in shell scripts: values reach the shell as variables, never as script text."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tidegate.cli import app
from tidegate.errors import ExpressionError
from tidegate.workflows import WorkflowInvalid, compile_template, parse_workflow_text
from tidegate.workflows.shell import (
    RenderedCommand,
    ShellScript,
    UnsafeScript,
    compile_run_script,
    compile_shell_script,
    render_command,
    shell_script_index,
)
from tidegate.workflows.shell_lexer import classify
from tidegate.workflows.shell_refs import Refusal

X = "${{ event.pusher }}"
V1, V2 = "${TIDEGATE_EXPR_1}", "${TIDEGATE_EXPR_2}"

# Each payload creates a MARKER* file if the value is ever read as shell code.
HOSTILE = [
    'x"; touch MARKER1; echo "',
    "x'; touch MARKER2; echo '",
    "$(touch MARKER3)",
    "`touch MARKER4`",
    "a; touch MARKER5 && echo | cat",
    "line one\ntouch MARKER6\nEOF\ntouch MARKER7",
    "sep\u2028arator\u2029 and \x85",
    "../../etc/passwd",
    "* ? [a-z] ~ {a,b}",
    "back\\slash \\\\ \\n \\' \\\"",
    "  leading and trailing  ",
    "",
    "-n",
    "${HOME} $HOME $((1+1)) $'x'",
    "a[$(touch MARKER8)]",
    "ü ☃ 𝄞 \t tab",
    "x" * 10_000 + "$(touch MARKER9)",
]
values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(exclude_characters="\0", exclude_categories=("Cs",)), max_size=200),
)


def environment(script: ShellScript, value: str) -> dict[str, str]:
    ctx = {"event": {"pusher": value}}
    env = script.environment(lambda text: compile_template(text).render(ctx))
    return {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", **env}


def run_script(shell: str, text: str, env: dict[str, str], cwd: Path) -> None:
    result = subprocess.run(
        [shell, "-c", text], env=env, cwd=cwd, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr.decode()


# -- each context ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (f"echo {X}", f'echo "{V1}"'),
        (f"echo pre{X}post", f'echo pre"{V1}"post'),
        (f'echo "a {X} b"', f'echo "a {V1} b"'),
        (f"echo 'a {X} b'", f"echo 'a '\"{V1}\"' b'"),
        (f"echo $'a\\n{X}\\t'", f"echo $'a\\n'\"{V1}\"$'\\t'"),
        (f"cat <<EOF\n{X}\nEOF", f"cat <<EOF\n{V1}\nEOF"),
        (f"cat <<EOF #\n{X}\nEOF", f"cat <<EOF #\n{V1}\nEOF"),
        (
            f"cat <<-EOF\n\t{X}\n\tEOF\necho {X}",
            f'cat <<-EOF\n\t{V1}\n\tEOF\necho "{V2}"',
        ),
        (f"cat <<'EOF'\nstatic\nEOF\necho {X}", f"cat <<'EOF'\nstatic\nEOF\necho \"{V1}\""),
        (f"cat <<EOF\n'{X}' \"{X}\"\nEOF", f"cat <<EOF\n'{V1}' \"{V2}\"\nEOF"),
        (f"echo a\\ {X} \\'{X}", f'echo a\\ "{V1}" \\\'"{V2}"'),
        (f"echo \\\\{X}", f'echo \\\\"{V1}"'),
        (f"# note {X}\necho ok", f'# note "{V1}"\necho ok'),
        (f"echo a#{X}", f'echo a#"{V1}"'),
        (f"echo $# {X}", f'echo $# "{V1}"'),
        (f"echo $(printf %s {X})", f'echo $(printf %s "{V1}")'),
        (f'echo "$(printf %s "{X}")"', f'echo "$(printf %s "{V1}")"'),
        (f"echo `printf %s {X}`", f'echo `printf %s "{V1}"`'),
        (
            f'echo "${{U:-{X}}}" ${{U:-{X}}}',
            f'echo "${{U:-"{V1}"}}" ${{U:-"{V2}"}}',
        ),
        (f"[[ {X} == v* ]]", f'[[ "{V1}" == v* ]]'),
        (f"cat <<< {X}", f'cat <<< "{V1}"'),
        (f"diff <(echo {X}) -", f'diff <(echo "{V1}") -'),
    ],
)
def test_each_context_gets_a_reference_quoted_for_it(script: str, expected: str) -> None:
    compiled = compile_shell_script(script)
    assert compiled.text == expected
    assert [t.source for t in compiled.variables.values()] == [X] * script.count(X)
    assert list(compiled.variables) == [f"TIDEGATE_EXPR_{n}" for n in range(1, script.count(X) + 1)]


@pytest.mark.parametrize(
    ("script", "line", "column", "says"),
    [
        (f"cat <<'EOF'\n  {X}\nEOF", 2, 3, "use an unquoted heredoc (<<EOF)"),
        (f'cat <<"EOF"\n{X}\nEOF', 2, 1, "quoted heredoc"),
        (f"cat <<\\EOF\n{X}\nEOF", 2, 1, "quoted heredoc"),
        (f"cat <<-'E'\n\t{X}\n\tE", 2, 2, "quoted heredoc"),
        (f"cat <<EOF >a\n{X}\nEOF\ncat <<'B'\n{X}\nB", 5, 1, "quoted heredoc"),
        (f"cat <<'EOF' #\n{X}\nEOF", 2, 1, "quoted heredoc"),
        (f"cat <<'EOF' # note\n{X}\nEOF", 2, 1, "quoted heredoc"),
        (f"echo $(( {X} + 1 ))", 1, 10, "arithmetic"),
        (f"(( n = {X} ))", 1, 8, "arithmetic"),
        (f"[[ {X} -gt 3 ]]", 1, 4, "arithmetic"),
        (f"echo ${{a[{X}]}}", 1, 10, "arithmetic"),
        (f"a[{X}]=1", 1, 3, "arithmetic"),
        (f"echo ${{s:{X}}}", 1, 10, "arithmetic"),
        (f"echo $(( $(printf %s {X}) ))", 1, 22, "arithmetic"),
        (f'echo "\\{X}"', 1, 8, "backslash"),
        (f"echo \\{X}", 1, 7, "backslash"),
        (f"cat <<{X}\nx", 1, 7, "heredoc delimiter"),
    ],
)
def test_unsafe_places_are_refused_with_the_safe_form(
    script: str, line: int, column: int, says: str
) -> None:
    with pytest.raises(UnsafeScript) as info:
        compile_shell_script(script)
    assert (info.value.line, info.value.column) == (line, column)
    assert says in info.value.message
    assert X in info.value.message


def test_quoted_heredoc_refusal_shows_the_safe_forms() -> None:
    with pytest.raises(UnsafeScript) as info:
        compile_shell_script(f"cat <<'EOF'\n{X}\nEOF")
    assert "use an unquoted heredoc (<<EOF)" in info.value.message
    assert "$TIDEGATE_PUSHER" in info.value.message and "env:" in info.value.message


def test_static_scripts_are_unchanged_for_every_shell() -> None:
    static = "cat <<'EOF'\n$HOME `x` '\nEOF\necho $(( 1 + 2 ))"
    for shell in (None, "bash", "sh", "python3 -c", "pwsh -Command"):
        assert compile_run_script(static, shell) == ShellScript(static)


@pytest.mark.parametrize("shell", [None, "bash", "sh", "/bin/dash -e -c", "zsh -c", "ksh -c"])
def test_posix_shells_get_variables(shell: str | None) -> None:
    assert compile_run_script(f"echo {X}", shell).text == f'echo "{V1}"'


@pytest.mark.parametrize("shell", ["python3 -c", "node -e", "env bash -c", "perl -e"])
def test_other_shells_refuse_expressions(shell: str) -> None:
    with pytest.raises(UnsafeScript) as info:
        compile_run_script(f'print("{X}")', shell)
    assert f"`{shell}`" in info.value.message
    assert 'os.environ["TIDEGATE_PUSHER"]' in info.value.message
    assert (info.value.line, info.value.column) == (1, 8)


def test_expressions_are_still_checked() -> None:
    with pytest.raises(ExpressionError, match="unknown name 'evnt'"):
        compile_shell_script("echo ${{ evnt.tag }}")
    with pytest.raises(ExpressionError, match="unterminated"):
        compile_shell_script("echo ${{ event.tag")


def test_a_nul_in_a_value_fails_instead_of_truncating() -> None:
    script = compile_shell_script(f"echo {X}")
    with pytest.raises(ExpressionError, match="NUL"):
        environment(script, "a\0b")


# -- the shell form of a command --------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "index"),
    [
        (["sh", "-c", "s"], 2),
        (["/bin/bash", "-euxc", "s", "name", "arg"], 2),
        (["bash", "-e", "-o", "pipefail", "-c", "s"], 5),
        (["bash", "-eo", "pipefail", "-c", "s"], 4),
        (["bash", "--norc", "-c", "s"], 3),
        (["/usr/bin/dash", "-ec", "s"], 2),
        (["zsh", "-c", "--", "s"], 3),
        (["sh", "script.sh", "-c"], None),
        (["sh", "-c"], None),
        (["sh", "-e", "s"], None),
        (["python3", "-c", "s"], None),
        (["/app/run", "-c", "s"], None),
        ([], None),
    ],
)
def test_shell_form_is_found_in_an_argv(argv: list[str], index: int | None) -> None:
    assert shell_script_index(argv) == index


def test_container_shell_form_script_gets_variables_and_runs_intact(tmp_path: Path) -> None:
    value = HOSTILE[0] + HOSTILE[3]
    ctx = {"event": {"pusher": value, "tag": "v1"}}
    rendered = render_command(
        ["/bin/sh", "-ec"],
        [f"printf %s '{X}' > out", "name-${{ event.tag }}"],
        lambda text: compile_template(text).render(ctx),
    )
    assert rendered.entrypoint == ["/bin/sh", "-ec"]
    assert rendered.command == [f"printf %s ''\"{V1}\"'' > out", "name-v1"]
    assert rendered.env == {"TIDEGATE_EXPR_1": value}
    env = {"PATH": os.environ["PATH"], **rendered.env}
    subprocess.run([*rendered.entrypoint, *rendered.command], env=env, cwd=tmp_path, check=True)
    assert (tmp_path / "out").read_text() == value
    assert not list(tmp_path.glob("MARKER*"))


def test_container_exec_form_is_interpolated_as_text() -> None:
    ctx = {"event": {"pusher": "a b; c", "tag": "v1"}}
    rendered = render_command(
        None, ["/app/notify", "--by", X], lambda text: compile_template(text).render(ctx)
    )
    assert rendered == RenderedCommand(None, ["/app/notify", "--by", "a b; c"], {})


# -- running the rewritten scripts -------------------------------------------------------

# (script, what it writes to its file given the value); `F` is replaced by a file name.
Case = tuple[str, Callable[[str], str]]
FAMILY: list[Case] = [
    (f'printf %s "{X}" > F', lambda v: v),
    (f"printf %s '{X}' > F", lambda v: v),
    (f"printf %s {X} > F", lambda v: v),
    (f'printf %s "<{X}|{X}>" > F', lambda v: f"<{v}|{v}>"),
    (f"printf %s 'a'{X}'b' > F", lambda v: f"a{v}b"),
    (f"cat <<EOF > F\n{X}\nEOF", lambda v: f"{v}\n"),
    (f"cat <<-EOF > F\n\t'{X}'\n\tEOF", lambda v: f"'{v}'\n"),
    (f'printf %s "${{UNSET:-{X}}}" > F', lambda v: v),
    (f"printf %s ${{UNSET:-{X}}} > F", lambda v: v),
    (f"# {X}\nprintf %s ok > F", lambda v: "ok"),
    (f'x={X}; printf %s "$x" > F', lambda v: v),
    (f'printf %s "$(printf %s "{X}")." > F', lambda v: v.rstrip("\n") + "."),
    (f"case {X} in *) printf %s {X} > F ;; esac", lambda v: v),
]
BASH_ONLY: list[Case] = [
    (f"printf %s $'\\t{X}\\n' > F", lambda v: f"\t{v}\n"),
    (f"[[ {X} == {X} ]] && printf ok > F", lambda v: "ok"),
]
SHELLS = [s for s in ("bash", "sh", "busybox") if shutil.which(s)]


def check_family(shell: str, value: str) -> None:
    family = FAMILY + (BASH_ONLY if shell == "bash" else [])
    text = "\n".join(script.replace(" F", f" out{i}") for i, (script, _) in enumerate(family))
    script = compile_shell_script(text)
    argv0 = "busybox sh" if shell == "busybox" else shell
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result = subprocess.run(
            [*argv0.split(), "-c", script.text],
            env=environment(script, value),
            cwd=work,
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        for i, (source, wanted) in enumerate(family):
            got = (work / f"out{i}").read_bytes().decode("utf-8", "surrogateescape")
            assert got == wanted(value), source
        assert not list(work.glob("MARKER*"))


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_arrive_intact_and_never_run(shell: str, value: str) -> None:
    check_family(shell, value)


@settings(max_examples=60, deadline=None)
@given(value=values)
def test_any_value_arrives_intact_in_bash_and_sh(value: str) -> None:
    for shell in SHELLS[:2]:
        check_family(shell, value)


# Pieces of shell syntax; shuffled together they make scripts the lexer must survive.
PIECES = [
    "printf %s ", "cat ", " ", "\n", "'", '"', "$'", "\\", "$(", ")", "`", "${", "}",
    "${q:-", "${q#", "#", ";", "|", "&&", "<<Q\n", "<<-Q\n", "<<'Q'\n", '<<"Q"\n', "\nQ\n",
    "\tQ\n", "<<<", "$((", "))", "((", "[[ ", " ]]", " -eq ", "q[", "]", "q=", ">o", "$",
    "{", "(", X, X, X,
]  # fmt: skip
# Code in any quoting, and one that bash's arithmetic would run (`a[$(…)]`).
PAYLOADS = ["\n".join(HOSTILE[:5]) + "\n$(touch MARKER0)", HOSTILE[14]]


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=40))
def test_no_script_runs_a_value(pieces: list[str]) -> None:
    source = "".join(pieces)
    try:
        script = compile_shell_script(source)
    except (UnsafeScript, ExpressionError):
        return  # refused at validation: it never runs
    assert script.text.count("${TIDEGATE_EXPR_") == source.count(X)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for shell, payload in itertools.product(SHELLS[:2], PAYLOADS):
            subprocess.run(
                [shell, "-c", script.text],
                env=environment(script, payload),
                cwd=work,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=30,
                check=False,
            )
        assert not list(work.glob("MARKER*")), script.text


@settings(max_examples=500, deadline=None)
@given(
    source=st.lists(
        st.sampled_from([*"$'\"`\\(){}[]<>#;|&-\n\t :=ab", X, "<<a\n", "<<'a'\n", "\na\n"]),
        max_size=150,
    ).map("".join)
)
def test_the_rewriter_never_crashes(source: str) -> None:
    try:
        script = compile_shell_script(source)
    except UnsafeScript as exc:
        assert 1 <= exc.line <= source.count("\n") + 1
        return
    except ExpressionError:
        return  # e.g. `${{}}` or an unterminated `${{`: the expression's own error
    assert set(script.variables) == {f"TIDEGATE_EXPR_{n + 1}" for n in range(source.count(X))}


@settings(max_examples=1000, deadline=None)
@given(text=st.text(max_size=300), data=st.data())
def test_the_lexer_is_total(text: str, data: st.DataObject) -> None:
    marks = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    choices = classify(text, marks)
    assert len(choices) == len(marks)
    for choice in choices:
        assert isinstance(choice, Refusal) or "${V}" in choice


@pytest.mark.parametrize(
    "piece", ["$(", "`", '"', "${", "<<A ", "<<A\n", "a[", "[[ ", "$((", "\nA\n", X, "x" * 40]
)
def test_the_lexer_takes_linear_time(piece: str) -> None:
    def seconds(n: int) -> float:
        source = piece * n + X
        started = time.perf_counter()
        with contextlib.suppress(UnsafeScript):
            compile_shell_script(source)
        return time.perf_counter() - started

    # A quadratic lexer would need many minutes for 50 000 pieces; linear takes about a second.
    assert seconds(50_000) < 15


# -- validation when the workflow is loaded ----------------------------------------------

HEAD = """\
name: w
on: {image: {repositories: [acme/web]}}
jobs:
  a:
"""


def problems(body: str) -> list[str]:
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow_text(HEAD + body, "w.yaml")
    return [str(p) for p in info.value.problems]


def test_a_quoted_heredoc_is_refused_at_the_expression() -> None:
    found = problems(
        """\
    steps:
      - run: |
          cat <<'EOF'
            tag ${{ event.tag }}
          EOF
"""
    )
    assert len(found) == 1
    assert found[0].startswith("w.yaml:8:17: jobs.a.steps[0].run: script line 2: ${{ event.tag }}")
    assert "use an unquoted heredoc (<<EOF)" in found[0]


def test_an_expression_for_another_shell_is_refused_at_the_expression() -> None:
    found = problems(
        """\
    steps:
      - run: print("${{ event.pusher }}")
        shell: python3 -c
"""
    )
    assert len(found) == 1
    assert found[0].startswith("w.yaml:6:21: jobs.a.steps[0].run: ${{ event.pusher }} cannot")
    assert 'os.environ["TIDEGATE_PUSHER"]' in found[0]


def test_container_and_service_shell_forms_are_checked() -> None:
    found = problems(
        """\
    services:
      db:
        image: postgres
        command: [sh, -c, "echo $(( ${{ event.tag }} ))"]
      cache:
        image: redis
        ready: {command: [sh, -c, "test ${{ event.tag }}"]}
    steps:
      - container:
          entrypoint: [/bin/bash, -euc]
          command: ["cat <<'E'\\n${{ event.tag }}\\nE"]
"""
    )
    assert [p.split(": ", 2)[:2] for p in found] == [
        ["w.yaml:8:37", "jobs.a.services.db.command[2]"],
        ["w.yaml:11:35", "jobs.a.services.cache.ready.command[2]"],
        ["w.yaml:15:21", "jobs.a.steps[0].container.command[0]"],
    ]
    assert "arithmetic" in found[0]
    assert "service's env:" in found[1]
    assert "quoted heredoc" in found[2]


def test_an_unusable_shell_is_refused() -> None:
    found = problems(
        """\
    steps:
      - run: echo hi
        shell: "bash 'unclosed"
"""
    )
    assert found == [
        'w.yaml:7:16: jobs.a.steps[0].shell: shell "bash \'unclosed" is not a command such as '
        "`bash` or `python3 -c`: No closing quotation"
    ]


def test_safe_scripts_load() -> None:
    workflow = parse_workflow_text(
        HEAD
        + """\
    steps:
      - run: |
          echo "${{ event.tag }}" '${{ event.tag }}' ${{ event.tag }}
          cat <<EOF
          ${{ event.pusher }}
          EOF
      - run: print("static")
        shell: python3 -c
      - container:
          command: [sh, -ec, "echo ${{ event.tag }}", "${{ event.tag }}"]
      - container:
          command: [/app/notify, "${{ event.pusher }}"]
"""
    )
    assert len(workflow.jobs["a"].steps) == 4


def test_validate_prints_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + "    steps:\n      - run: cat <<${{ event.tag }}\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:6:20: jobs.a.steps[0].run: ${{{{ event.tag }}}}")
    assert "heredoc delimiter" in result.stderr
