"""The models of one workflow file (DESIGN.md, "Workflow files").

Validation is complete at load time: unknown keys, bad durations, patterns that do not
compile, expressions that do not compile, `needs` that name no job and cycles between
jobs are all errors, each located at the offending key or value.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tidegate.workflows.fields import (
    Approver,
    CelExpr,
    Duration,
    Env,
    JobId,
    Needs,
    Port,
    RegistryGlob,
    RepositoryGlob,
    SourceName,
    StepId,
    TagPattern,
    Text,
    WorkflowName,
)
from tidegate.workflows.model import Issue, Model, checked_command, invalid, shell_form
from tidegate.workflows.polling import poll_issues
from tidegate.workflows.steps import STEP_KINDS, StepSpec

_ONE_KIND = "a step needs exactly one of " + ", ".join(STEP_KINDS)


class ImageFilter(Model):
    """Which pushes start the workflow; every given criterion must accept the event."""

    repositories: list[RepositoryGlob] = Field(min_length=1)
    tags: list[TagPattern] = Field(default=["*"], min_length=1)
    sources: list[SourceName] | None = None
    registries: list[RegistryGlob] | None = None
    poll: Duration | None = None  # also list the tags this often (docs/polling.md)
    poll_existing: bool = False  # the first poll starts runs for the tags already there

    @model_validator(mode="after")
    def _pollable(self) -> Self:
        issues = poll_issues(self.poll, self.poll_existing, self.repositories, self.registries)
        if issues:
            raise invalid("ImageFilter", issues)
        return self


class Trigger(Model):
    """`on:`: what starts a run."""

    image: ImageFilter


class StepBase(Model):
    """The fields every step has; `Step` adds each kind's from the table."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [k]} for k in STEP_KINDS]})

    name: Text | None = None
    id: StepId | None = None
    if_: CelExpr | None = Field(default=None, alias="if")
    env: Env = {}
    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=10)
    continue_on_error: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            found = f" (found {' and '.join(given)})" if given else ""
            raise PydanticCustomError("step_kind", _ONE_KIND + found)
        for key, kind in STEP_KINDS.items():
            misplaced = [f for f in kind.fields if f != key and getattr(self, f) is not None]
            if key != given[0] and misplaced:
                message = f"{misplaced[0]} belongs to a {key} step"
                raise invalid("Step", [Issue((misplaced[0],), message)])
        return self

    @model_validator(mode="after")
    def _kind_checks(self) -> Self:
        check = STEP_KINDS[self.kind].check
        issues = check(self._kind_fields()) if check else []
        if issues:
            raise invalid("Step", issues)
        return self

    @property
    def kind(self) -> str:
        """The kind key: one of STEP_KINDS."""
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> StepSpec:
        """The kind's model; a run step's script, shell and working directory as RunSpec."""
        return STEP_KINDS[self.kind].make_spec(self._kind_fields())

    def _kind_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in STEP_KINDS[self.kind].fields}


_STEP_DOC = "One step; exactly one kind key (`run`, `container`, …) says what it does."
if TYPE_CHECKING:
    Step = StepBase  # the kinds' fields are added at runtime: reach them through `spec`
else:
    Step = create_model(
        "Step",
        __base__=StepBase,
        __doc__=_STEP_DOC,
        __module__=__name__,
        **{name: f for kind in STEP_KINDS.values() for name, f in kind.fields.items()},
    )


class Ready(Model):
    """When a service counts as up. The image's HEALTHCHECK decides when it has one;
    else a TCP port on 127.0.0.1 that accepts, or a command in the container that exits
    0; with none of these, a running container."""

    port: int | None = Field(default=None, ge=1, le=65535)
    command: list[Text] | None = None
    timeout: Duration = 60.0

    @model_validator(mode="after")
    def _one(self) -> Self:
        if self.port is not None and self.command is not None:
            raise invalid("Ready", [Issue((), "ready takes a port or a command, not both")])
        found = shell_form(None, self.command)
        if found and "${{" in found[1]:
            message = (
                "a ready command's script cannot use ${{ }}: set the value in the "
                "service's env: and read it as $NAME"
            )
            raise invalid("Ready", [Issue(found[0], message, found[1], "unsafe_script")])
        return self


class Service(Model):
    """A container started before a job's first step and removed after its last."""

    image: Text
    env: Env = {}
    command: list[Text] | None = None
    entrypoint: list[Text] | None = None
    ports: list[Port] = []
    network: str | None = None  # default: the engine's (host networking reaches 127.0.0.1)
    ready: Ready | None = None

    @model_validator(mode="after")
    def _safe_script(self) -> Self:
        return checked_command(self, "Service")


class Approval(Model):
    """Wait for people: `required` approvals from `approvers` (users or `group:NAME`)."""

    approvers: list[Approver] = Field(min_length=1)
    required: int = Field(default=1, ge=1)
    timeout: Duration | None = None  # on timeout: rejected, never approved
    message: Text | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        users = {a for a in self.approvers if not a.startswith("group:")}
        if len(users) == len(self.approvers) and self.required > len(users):
            message = f"required is {self.required} but only {len(users)} approvers are listed"
            raise invalid("Approval", [Issue(("required",), message, self.required)])
        return self


class Job(Model):
    """Steps run in order, or an approval; `needs` orders jobs into a DAG."""

    needs: Needs = []
    if_: CelExpr | None = Field(default=None, alias="if")
    env: Env = {}
    steps: list[Step] = []
    approval: Approval | None = None
    timeout: Duration | None = None
    services: dict[JobId, Service] = {}

    @model_validator(mode="after")
    def _steps_or_approval(self) -> Self:
        if self.approval is None and not self.steps:
            raise PydanticCustomError("job", "a job needs steps or an approval")
        if self.approval is not None and self.steps:
            raise invalid("Job", [Issue(("steps",), "an approval job has no steps")])
        seen: set[str] = set()
        for i, step in enumerate(self.steps):
            if step.id is not None and step.id in seen:
                message = f"step id {step.id!r} is used twice in this job"
                raise invalid("Job", [Issue(("steps", i, "id"), message, step.id)])
            seen.add(step.id or "")
        return self


def graph_problems(needs: Mapping[str, Sequence[str]]) -> list[Issue]:
    """`needs` that name no job, and cycles (each named once, e.g. "a → b → a")."""
    problems: list[Issue] = []
    for job, wanted in needs.items():
        for i, other in enumerate(wanted):
            if other not in needs:
                close = difflib.get_close_matches(other, list(needs), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                message = f"job {job!r} needs {other!r}, which is not a job here{hint}"
                problems.append(Issue(("jobs", job, "needs", i), message, other))
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(job: str) -> None:
        state[job] = 1
        path.append(job)
        for i, other in enumerate(needs[job]):
            if other not in needs:
                continue
            if state.get(other) == 1:
                cycle = " → ".join([*path[path.index(other) :], other])
                message = f"jobs form a cycle: {cycle}"
                problems.append(Issue(("jobs", job, "needs", i), message, other))
            elif other not in state:
                visit(other)
        path.pop()
        state[job] = 2

    for job in needs:
        if job not in state:
            visit(job)
    return problems


def outside_finally(workflow: Workflow) -> list[Issue]:
    """Kinds that may stand only under `finally:` (a callback: the run's result is
    known only there)."""
    return [
        Issue(("jobs", job_id, "steps", i, step.kind), STEP_KINDS[step.kind].finally_only)
        for job_id, job in workflow.jobs.items()
        for i, step in enumerate(job.steps)
        if STEP_KINDS[step.kind].finally_only
    ]


def _raw_needs(data: object) -> dict[str, list[str]]:
    """The needs graph from unvalidated input, so graph problems are reported together
    with every other problem rather than only once the rest validates."""
    jobs = data.get("jobs") if isinstance(data, Mapping) else None
    if not isinstance(jobs, Mapping):
        return {}
    graph: dict[str, list[str]] = {}
    for job_id, job in jobs.items():
        wanted = job.get("needs", []) if isinstance(job, Mapping) else []
        wanted = [wanted] if isinstance(wanted, str) else wanted
        if isinstance(job_id, str) and isinstance(wanted, list):
            graph[job_id] = [w for w in wanted if isinstance(w, str)]
    return graph


class Workflow(Model):
    """One workflow file."""

    name: WorkflowName
    on: Trigger
    concurrency: Text | None = None  # runs sharing the rendered key run one at a time
    env: Env = {}
    jobs: dict[JobId, Job] = Field(min_length=1)
    finally_: list[Step] = Field(default=[], alias="finally")
    on_unresolved: Literal["fail", "tag"] = "fail"  # tag not resolvable to a digest
    timeout: Duration | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _check_graph(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            workflow = handler(data)
        except ValidationError as exc:
            problems = graph_problems(_raw_needs(data))
            if not problems:
                raise
            raise invalid(cls.__name__, [*exc.errors(), *problems]) from None
        problems = graph_problems({k: job.needs for k, job in workflow.jobs.items()})
        problems.extend(outside_finally(workflow))
        if problems:
            raise invalid(cls.__name__, problems)
        return workflow


def workflow_json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file (keys as written in YAML)."""
    schema = Workflow.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
