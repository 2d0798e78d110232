"""The workflow models: shapes, defaults, step kinds and cross-field checks."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from tidegate.workflows import (
    STEP_KINDS,
    CallbackSpec,
    ContainerSpec,
    NotifySpec,
    PromoteSpec,
    RunSpec,
    Step,
    Workflow,
    parse_duration,
    workflow_json_schema,
)

EXAMPLE = Path(__file__).parents[1] / "fixtures" / "workflows" / "valid" / "web-release.yaml"


def _example() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(EXAMPLE.read_text())
    return data


def _minimal(**jobs: Any) -> dict[str, Any]:
    return {
        "name": "w",
        "on": {"image": {"repositories": ["acme/web"]}},
        "jobs": jobs or {"a": {"steps": [{"run": "true"}]}},
    }


def _errors(data: dict[str, Any]) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as info:
        Workflow.model_validate(data)
    return [(e["loc"], e["msg"]) for e in info.value.errors()]


def test_design_example_validates() -> None:
    wf = Workflow.model_validate(_example())
    assert wf.name == "web-release"
    assert wf.on.image.repositories == ["acme/web", "acme/web-*"]
    assert wf.on.image.tags == ["v*"]
    assert wf.on.image.sources == ["dockerhub", "registry"]
    assert wf.on.image.registries is None
    assert wf.concurrency == "web-release-${{ event.repository }}"
    assert wf.env == {"APP_ENV": "ci"}
    assert list(wf.jobs) == ["smoke", "integration", "approve", "promote"]
    assert wf.on_unresolved == "fail"

    smoke = wf.jobs["smoke"].steps[0]
    assert smoke.kind == "container"
    assert isinstance(smoke.spec, ContainerSpec)
    assert smoke.spec.image == "${{ event.image }}"
    assert smoke.spec.command == ["/app/selftest"]
    assert smoke.timeout == 300.0

    integration = wf.jobs["integration"]
    assert integration.needs == ["smoke"]
    assert integration.services["db"].env == {"POSTGRES_PASSWORD": "test"}
    run = integration.steps[0]
    assert (run.kind, run.retries) == ("run", 2)
    assert run.spec == RunSpec(script='./ci/integration.sh "$TIDEGATE_IMAGE"')

    approval = wf.jobs["approve"].approval
    assert approval is not None
    assert approval.approvers == ["alice", "group:release"]
    assert (approval.required, approval.timeout) == (1, 72 * 3600.0)
    assert wf.jobs["approve"].steps == []

    promote = wf.jobs["promote"]
    assert promote.if_ == 'event.tag.startsWith("v")'
    assert isinstance(promote.steps[0].spec, PromoteSpec)
    assert promote.steps[0].spec.if_exists == "overwrite"

    callback, notify = wf.finally_
    assert callback.kind == "callback"
    assert isinstance(callback.spec, CallbackSpec)
    assert callback.spec.dockerhub
    assert isinstance(notify.spec, NotifySpec)
    assert notify.spec.when == ["failure", "approval"]


def test_dump_by_alias_round_trips() -> None:
    wf = Workflow.model_validate(_example())
    dumped = wf.model_dump(by_alias=True, exclude_defaults=True)
    assert "finally" in dumped
    assert dumped["jobs"]["promote"]["if"] == 'event.tag.startsWith("v")'
    assert Workflow.model_validate(dumped) == wf


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30s", 30), ("5m", 300), ("72h", 259200), ("1h30m", 5400), ("2d", 172800)]
    + [(45, 45), (1.5, 1.5), ("90", 90), ("1.5h", 5400), ("1d2h3m4s", 93784)],
)
def test_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5x", "m5", "", "1m1h", "5 minutes", True, [], "0s", 0, -3])
def test_bad_duration(value: object) -> None:
    data = _minimal(a={"timeout": value, "steps": [{"run": "true"}]})
    [(loc, message)] = _errors(data)
    assert loc == ("jobs", "a", "timeout")
    assert "duration" in message


@pytest.mark.parametrize(
    ("step", "kind"),
    [
        ({"run": "make test", "shell": "bash", "working_directory": "src"}, "run"),
        ({"container": {"image": "alpine", "command": ["true"], "memory": "512m"}}, "container"),
        ({"promote": {"to": "acme/web:prod", "if_exists": "skip"}}, "promote"),
        ({"callback": "dockerhub"}, "callback"),
        ({"callback": {"url": "https://ci.example.com/hook"}}, "callback"),
        ({"notify": {"urls": ["mailto://ops@example.com"]}}, "notify"),
    ],
)
def test_step_kinds(step: dict[str, Any], kind: str) -> None:
    parsed = Step.model_validate(step)
    assert parsed.kind == kind
    assert parsed.spec is not None
    assert kind in STEP_KINDS


def test_step_specs_normalise_shorthands() -> None:
    promote = Step.model_validate({"promote": {"to": "acme/web:prod"}}).spec
    assert isinstance(promote, PromoteSpec)
    assert promote.to == ["acme/web:prod"]
    assert promote.signatures is False
    signed = Step.model_validate({"promote": {"to": "acme/web:prod", "signatures": True}}).spec
    assert isinstance(signed, PromoteSpec) and signed.signatures is True
    notify = Step.model_validate({"notify": {"urls": ["x://y"]}}).spec
    assert isinstance(notify, NotifySpec)
    assert notify.when == ["always"]
    callback = Step.model_validate({"callback": {"url": "https://x"}}).spec
    assert isinstance(callback, CallbackSpec)
    assert not callback.dockerhub


@pytest.mark.parametrize(
    ("step", "loc", "message"),
    [
        ({"name": "x"}, (), "a step needs exactly one of run, container, promote"),
        ({"run": "a", "notify": {"urls": ["x://"]}}, (), "(found run and notify)"),
        ({"container": {"image": "a"}, "shell": "bash"}, ("shell",), "belongs to a run step"),
        ({"run": "a", "retries": 11}, ("retries",), "less than or equal to 10"),
        ({"run": "a", "rtries": 1}, ("rtries",), "unknown key 'rtries'; did you mean 'retries'?"),
        ({"callback": "jenkins"}, ("callback",), "callback must be 'dockerhub'"),
        ({"callback": {}}, ("callback",), "needs url"),
        ({"promote": {"to": []}}, ("promote", "to"), "at least 1 item"),
        ({"promote": {"to": "x", "if_exists": "merge"}}, ("promote", "if_exists"), "'overwrite'"),
        ({"promote": {"to": "x", "signatures": "cosign"}}, ("promote", "signatures"), "boolean"),
        ({"notify": {"urls": ["x://"], "when": ["never"]}}, ("notify", "when", 0), "'always'"),
        ({"container": {"image": "a", "pull": "sometimes"}}, ("container", "pull"), "'if-missing'"),
        ({"container": {"image": "a", "cpus": 0}}, ("container", "cpus"), "greater than 0"),
        ({"notify": {"when": ["always"]}}, ("notify", "urls"), "Field required"),
        ({"container": {"image": "${{ evnt.image }}"}}, ("container", "image"), "unknown name"),
        ({"run": "a", "if": "event.tag =="}, ("if",), "invalid expression"),
        ({"run": "a", "env": {"1BAD": "x"}}, ("env", "1BAD", "[key]"), "should match pattern"),
    ],
)
def test_bad_step(step: dict[str, Any], loc: tuple[int | str, ...], message: str) -> None:
    data = _minimal(a={"steps": [step]})
    errors = _errors(data)
    assert [e[0] for e in errors] == [("jobs", "a", "steps", 0, *loc)]
    assert message in errors[0][1]


def test_env_values_from_yaml_scalars_become_text() -> None:
    step = Step.model_validate({"run": "x", "env": {"PORT": 8080, "DEBUG": True, "R": 1.5}})
    assert step.env == {"PORT": "8080", "DEBUG": "true", "R": "1.5"}


def test_if_accepts_yaml_booleans() -> None:
    assert Step.model_validate({"run": "x", "if": False}).if_ == "false"


def test_needs_accepts_a_single_string() -> None:
    data = _minimal(a={"steps": [{"run": "x"}]}, b={"needs": "a", "steps": [{"run": "y"}]})
    assert Workflow.model_validate(data).jobs["b"].needs == ["a"]


@pytest.mark.parametrize(
    ("job", "loc", "message"),
    [
        ({}, (), "a job needs steps or an approval"),
        ({"steps": []}, (), "a job needs steps or an approval"),
        (
            {"approval": {"approvers": ["a"]}, "steps": [{"run": "x"}]},
            ("steps",),
            "an approval job has no steps",
        ),
        ({"approval": {"approvers": []}}, ("approval", "approvers"), "at least 1 item"),
        ({"approval": {"approvers": ["a", "b"], "required": 3}}, ("approval", "required"), "3"),
        ({"approval": {"approvers": ["a"], "required": 0}}, ("approval", "required"), ">= 1"),
        ({"approval": {"approvers": ["bad name"]}}, ("approval", "approvers", 0), "pattern"),
        (
            {"steps": [{"id": "s", "run": "x"}, {"id": "s", "run": "y"}]},
            ("steps", 1, "id"),
            "used twice",
        ),
    ],
)
def test_bad_job(job: dict[str, Any], loc: tuple[int | str, ...], message: str) -> None:
    errors = _errors(_minimal(a=job))
    assert [e[0] for e in errors] == [("jobs", "a", *loc)]
    assert message.replace(">= 1", "greater than or equal to 1") in errors[0][1]


def test_approval_with_a_group_may_require_more_than_the_listed_users() -> None:
    data = _minimal(a={"approval": {"approvers": ["alice", "group:release"], "required": 3}})
    approval = Workflow.model_validate(data).jobs["a"].approval
    assert approval is not None
    assert approval.required == 3


def test_needs_must_name_jobs_and_cycles_are_named() -> None:
    data = _minimal(
        a={"needs": ["c"], "steps": [{"run": "x"}]},
        b={"needs": ["a", "nope"], "steps": [{"run": "x"}]},
        c={"needs": ["b"], "steps": [{"run": "x"}]},
    )
    assert _errors(data) == [
        (("jobs", "b", "needs", 1), "job 'b' needs 'nope', which is not a job here"),
        (("jobs", "b", "needs", 0), "jobs form a cycle: a → c → b → a"),
    ]


def test_self_need_is_a_cycle() -> None:
    data = _minimal(a={"needs": "a", "steps": [{"run": "x"}]})
    assert _errors(data) == [(("jobs", "a", "needs", 0), "jobs form a cycle: a → a")]


def test_graph_problems_are_reported_with_other_problems() -> None:
    data = _minimal(
        a={"needs": ["b"], "timeout": "soon", "steps": [{"run": "x"}]},
    )
    locs = [loc for loc, _ in _errors(data)]
    assert locs == [("jobs", "a", "timeout"), ("jobs", "a", "needs", 0)]


@pytest.mark.parametrize(
    ("image", "loc", "message"),
    [
        ({"repositories": []}, ("repositories",), "at least 1 item"),
        ({}, ("repositories",), "Field required"),
        ({"repositories": ["/acme"]}, ("repositories", 0), "invalid repository glob"),
        ({"repositories": ["a/b"], "tags": ["/(/"]}, ("tags", 0), "invalid tag regex"),
        ({"repositories": ["a/b"], "tags": [">=x"]}, ("tags", 0), "invalid version range"),
        ({"repositories": ["a/b"], "tags": []}, ("tags",), "at least 1 item"),
        ({"repositories": ["a/b"], "sources": ["hub"]}, ("sources", 0), "unknown source 'hub'"),
        # Only what the source table holds: no Nexus source, so `nexus` is a mistake.
        (
            {"repositories": ["a/b"], "sources": ["nexus"]},
            ("sources", 0),
            "unknown source 'nexus'; known: acr, artifactory, cloudevents, dockerhub, ecr, "
            "gar, ghcr, harbor, quay, registry",
        ),
        ({"repositories": ["a/b"], "registries": ["a b"]}, ("registries", 0), "pattern"),
        ({"repositories": ["a/b"], "tag": ["x"]}, ("tag",), "did you mean 'tags'?"),
    ],
)
def test_bad_image_filter(image: dict[str, Any], loc: tuple[int | str, ...], message: str) -> None:
    data = _minimal()
    data["on"] = {"image": image}
    errors = _errors(data)
    assert [e[0] for e in errors] == [("on", "image", *loc)]
    assert message in errors[0][1]


@pytest.mark.parametrize(
    ("change", "loc", "message"),
    [
        ({"name": "Not a slug!"}, ("name",), "pattern"),
        ({"jobs": {}}, ("jobs",), "at least 1 item"),
        ({"jobs": {"9x": {"steps": [{"run": "x"}]}}}, ("jobs", "9x", "[key]"), "pattern"),
        ({"concurrency": "k-${{ event.tag"}, ("concurrency",), "unterminated"),
        ({"on_unresolved": "ignore"}, ("on_unresolved",), "'fail' or 'tag'"),
        ({"finally": [{"run": "x", "container": {"image": "y"}}]}, ("finally", 0), "exactly one"),
        ({"nmae": "x"}, ("nmae",), "did you mean 'name'?"),
        ({"on": {"push": {}}}, ("on", "image"), "Field required"),
    ],
)
def test_bad_workflow(change: dict[str, Any], loc: tuple[int | str, ...], message: str) -> None:
    data = {**_minimal(), **change}
    errors = _errors(data)
    assert loc in [e[0] for e in errors]
    assert any(message in msg for where, msg in errors if where == loc)


def test_models_are_frozen() -> None:
    wf = Workflow.model_validate(_example())
    with pytest.raises(ValidationError):
        wf.name = "other"  # type: ignore[misc]


def test_json_schema_uses_yaml_keys() -> None:
    schema = workflow_json_schema()
    assert set(schema["required"]) == {"name", "on", "jobs"}
    assert {"finally", "on_unresolved", "timeout", "concurrency"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    step = schema["$defs"]["Step"]
    assert "if" in step["properties"]
    assert step["oneOf"] == [{"required": [k]} for k in STEP_KINDS]
    assert {"const": "dockerhub"} in step["properties"]["callback"]["anyOf"]
    job = schema["$defs"]["Job"]
    assert "anyOf" in job["properties"]["timeout"]


def test_example_is_not_mutated_by_validation() -> None:
    data = _example()
    before = copy.deepcopy(data)
    Workflow.model_validate(data)
    assert data == before


def test_public_surface() -> None:
    import tidegate.workflows

    assert set(tidegate.workflows.__all__) == {
        "CONTEXTS", "STEP_KINDS", "Approval", "CallbackSpec", "Condition", "ContainerSpec",
        "ImageFilter", "Job", "LoadResult", "LoadedWorkflow", "NotifySpec", "Problem",
        "PromoteSpec", "Range", "RunSpec", "Service", "Step", "StepSpec", "Template",
        "Trigger", "Version", "Workflow", "WorkflowDirectory", "WorkflowInvalid",
        "compile_condition", "compile_template", "event_context", "load_workflow",
        "load_workflows", "matches", "parse_duration", "parse_range", "parse_version",
        "parse_workflow_text", "tag_matches", "template_names", "to_cel",
        "workflow_json_schema",
    }  # fmt: skip
    assert all(hasattr(tidegate.workflows, name) for name in tidegate.workflows.__all__)
