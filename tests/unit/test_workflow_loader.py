"""Loading workflow files: positions of problems, directories, the mtime cache."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from tidegate.errors import WorkflowError
from tidegate.workflows import (
    LoadResult,
    Problem,
    WorkflowDirectory,
    WorkflowInvalid,
    load_workflow,
    load_workflows,
    parse_workflow_text,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "workflows"
VALID = FIXTURES / "valid" / "web-release.yaml"
BROKEN = FIXTURES / "broken"

MINIMAL = """\
name: {name}
on:
  image:
    repositories: [acme/web]
jobs:
  a:
    steps:
      - run: "true"
"""


def _problems(name: str) -> list[tuple[int, int, str]]:
    with pytest.raises(WorkflowInvalid) as info:
        load_workflow(BROKEN / name)
    assert all(p.file == str(BROKEN / name) for p in info.value.problems)
    return [(p.line, p.column, p.message) for p in info.value.problems]


def test_design_example_loads() -> None:
    wf = load_workflow(VALID)
    assert wf.name == "web-release"
    assert list(wf.jobs) == ["smoke", "integration", "approve", "promote"]


@pytest.mark.parametrize(
    ("name", "line", "column", "message"),
    [
        (
            "misspelled_key.yaml",
            7,
            5,
            "jobs.smoke.stpes: unknown key 'stpes'; did you mean 'steps'?",
        ),
        ("bad_duration.yaml", 7, 14, "jobs.smoke.timeout: invalid duration '5 minutes'"),
        (
            "missing_need.yaml",
            10,
            20,
            "jobs.deploy.needs[1]: job 'deploy' needs 'integration', which is not a job here",
        ),
        (
            "cycle.yaml",
            11,
            13,
            "jobs.test.needs[0]: jobs form a cycle: build → deploy → test → build",
        ),
        (
            "bad_cel.yaml",
            7,
            9,
            "jobs.promote.if: invalid expression 'event.tag.startsWith(\"v\"': "
            "unexpected end of expression at column 25",
        ),
        ("bad_regex.yaml", 5, 18, "on.image.tags[1]: invalid tag regex '/^rc-(\\d+$/'"),
        ("yaml_syntax.yaml", 5, 5, "invalid YAML: expected ',' or ']', but got ':'"),
        (
            "two_kinds.yaml",
            8,
            9,
            "jobs.smoke.steps[0]: a step needs exactly one of run, container, promote, "
            "callback, notify (found run and container)",
        ),
    ],
)
def test_broken_file_points_at_the_problem(name: str, line: int, column: int, message: str) -> None:
    [(got_line, got_column, got_message)] = _problems(name)
    assert (got_line, got_column) == (line, column)
    assert got_message.startswith(message)


def test_duplicate_keys_are_all_reported() -> None:
    assert _problems("duplicate_keys.yaml") == [
        (9, 3, "duplicate key 'smoke' (first at line 6)"),
        (12, 1, "duplicate key 'name' (first at line 1)"),
    ]


def test_all_problems_of_a_file_are_collected() -> None:
    problems = _problems("several.yaml")
    assert [(line, column) for line, column, _ in problems] == [
        (5, 24),  # >=banana
        (6, 26),  # quay.io
        (7, 14),  # evnt in concurrency
        (10, 14),  # 0s
        (13, 18),  # retries: 11
        (14, 9),  # {} step
        (16, 20),  # needs qa
        (19, 17),  # required: 3
        (21, 66),  # when: sometimes
        (22, 15),  # callback: jenkins
    ]
    messages = [m for _, _, m in problems]
    assert messages[1].startswith("on.image.sources[1]: unknown source 'quay.io'")
    assert messages[2].startswith("concurrency: unknown name 'evnt'")
    assert messages[5] == (
        "jobs.smoke.steps[1]: a step needs exactly one of run, container, promote, callback, notify"
    )


def test_missing_key_points_at_the_mapping_that_lacks_it() -> None:
    text = (
        "name: x\non:\n  image:\n    tags: [v1]\n"
        "jobs:\n  a:\n    steps:\n      - notify:\n          when: [always]\n"
    )
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow_text(text, "w.yaml")
    assert [str(p) for p in info.value.problems] == [
        "w.yaml:3:3: on.image: missing required key 'repositories'",
        "w.yaml:8:9: jobs.a.steps[0].notify: missing required key 'urls'",
    ]


def test_missing_top_level_key_points_at_the_start() -> None:
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow_text("name: x\non: {image: {repositories: [a/b]}}\n", "w.yaml")
    assert [str(p) for p in info.value.problems] == ["w.yaml:1:1: missing required key 'jobs'"]


def test_bad_job_id_points_at_the_key() -> None:
    text = MINIMAL.format(name="x") + "  9lives:\n    steps: [{run: x}]\n"
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow_text(text, "w.yaml")
    [problem] = info.value.problems
    assert (problem.line, problem.column) == (9, 3)
    assert problem.message.startswith("jobs.9lives: invalid key: String should match pattern")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a workflow file must be a mapping"),
        ("- a\n- b\n", "a workflow file must be a mapping"),
        ("just text\n", "a workflow file must be a mapping"),
        ("a: 1\n---\nb: 2\n", "invalid YAML: but found another document"),
    ],
)
def test_not_a_workflow(text: str, message: str) -> None:
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow_text(text)
    assert info.value.problems[0].message.startswith(message)


def test_yaml_1_2_keeps_on_and_yes_as_strings() -> None:
    text = MINIMAL.format(name="x") + "env: {FLAG: yes, OTHER: on}\n"
    assert parse_workflow_text(text).env == {"FLAG": "yes", "OTHER": "on"}


def test_alias_bombs_are_refused() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(WorkflowInvalid, match="expands to more than"):
        parse_workflow_text("\n".join(lines) + "\n")


def test_invalid_is_a_workflow_error_listing_problems() -> None:
    problem = Problem("w.yaml", 3, 7, "bad")
    error = WorkflowInvalid([problem, Problem("w.yaml", 4, 1, "worse")])
    assert isinstance(error, WorkflowError)
    assert str(problem) == "w.yaml:3:7: bad"
    assert str(error) == "invalid workflow, 2 problems:\nw.yaml:3:7: bad\nw.yaml:4:1: worse"


def test_load_workflows(tmp_path: Path) -> None:
    shutil.copy(VALID, tmp_path / "b-release.yml")
    (tmp_path / "a.yaml").write_text(MINIMAL.format(name="alpha"))
    (tmp_path / "c.yaml").write_text(MINIMAL.format(name="alpha"))  # name taken by a.yaml
    shutil.copy(BROKEN / "bad_duration.yaml", tmp_path / "d.yaml")
    (tmp_path / ".#a.yaml").write_text("not: [yaml")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.yaml").write_text("ignored: [")

    result = load_workflows(tmp_path)

    assert list(result.workflows) == ["alpha", "web-release"]
    loaded = result.workflows["web-release"]
    assert loaded.path == tmp_path / "b-release.yml"
    assert loaded.source_text == VALID.read_text()
    assert loaded.digest == "sha256:" + hashlib.sha256(VALID.read_bytes()).hexdigest()
    assert [(Path(p.file).name, p.line, p.column) for p in result.problems] == [
        ("c.yaml", 1, 7),
        ("d.yaml", 7, 14),
    ]
    assert "'alpha' is already used by" in result.problems[0].message


def test_load_workflows_missing_directory(tmp_path: Path) -> None:
    result = load_workflows(tmp_path / "nope")
    assert result.workflows == {}
    assert "cannot read the workflows directory" in result.problems[0].message


def _touch(path: Path, text: str) -> None:
    # A distinct mtime even on coarse clocks: the cache keys on (mtime, size).
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_directory_cache_rereads_only_what_changed(tmp_path: Path) -> None:
    _touch(tmp_path / "a.yaml", MINIMAL.format(name="alpha"))
    _touch(tmp_path / "b.yaml", MINIMAL.format(name="beta"))
    directory = WorkflowDirectory(tmp_path)

    first = directory.load()
    second = directory.load()
    assert first == second
    assert first.workflows["alpha"] is second.workflows["alpha"]

    _touch(tmp_path / "b.yaml", MINIMAL.format(name="beta2"))
    third = directory.load()
    assert list(third.workflows) == ["alpha", "beta2"]
    assert third.workflows["alpha"] is first.workflows["alpha"]  # not re-read

    _touch(tmp_path / "c.yaml", "name: [")
    fourth = directory.load()
    assert [Path(p.file).name for p in fourth.problems] == ["c.yaml"]

    (tmp_path / "c.yaml").unlink()
    (tmp_path / "a.yaml").unlink()
    fifth = directory.load()
    assert list(fifth.workflows) == ["beta2"]
    assert fifth.problems == []


def test_directory_results_are_copies(tmp_path: Path) -> None:
    _touch(tmp_path / "a.yaml", MINIMAL.format(name="alpha"))
    directory = WorkflowDirectory(tmp_path)
    result = directory.load()
    result.workflows.clear()
    assert isinstance(directory.load(), LoadResult)
    assert list(directory.load().workflows) == ["alpha"]
