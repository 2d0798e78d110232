"""The models of one workflow file (DESIGN.md, "Workflow files").

Validation is complete at load time: unknown keys, bad durations, patterns that do not
compile, expressions that do not compile, `needs` that name no job and cycles between
jobs are all errors, each located at the offending key or value.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, NamedTuple, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializerFunctionWrapHandler,
    ValidationError,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from tidegate.errors import ExpressionError
from tidegate.workflows.fields import (
    Approver,
    CelExpr,
    Duration,
    Env,
    JobId,
    MemorySize,
    Needs,
    Port,
    RegistryGlob,
    RepositoryGlob,
    SourceName,
    StepId,
    TagPattern,
    Text,
    TextList,
    WorkflowName,
)
from tidegate.workflows.shell import (
    UnsafeScript,
    compile_run_script,
    compile_shell_script,
    shell_script_index,
)

STEP_KINDS = ("run", "container", "promote", "callback", "notify")
_ONE_KIND = "a step needs exactly one of " + ", ".join(STEP_KINDS)

Loc = tuple[int | str, ...]


class Issue(NamedTuple):
    """One problem found by our own checks, located relative to the model checking it."""

    loc: Loc
    message: str
    input: object = None
    type: str = "workflow"
    at: tuple[int, int] | None = None  # (line, column) within a string value, 1-based


def _errors(title: str, errors: Sequence[ErrorDetails | Issue]) -> ValidationError:
    # pydantic merges a ValidationError raised inside a validator into the outer one,
    # prefixing the locations: that keeps cross-field problems precisely located.
    details: list[InitErrorDetails] = []
    for e in errors:
        if isinstance(e, Issue):
            at = {"script_line": e.at[0], "script_column": e.at[1]} if e.at else None
            kind = PydanticCustomError(e.type, e.message, at)
            details.append({"type": kind, "loc": e.loc, "input": e.input})
        else:
            kind = PydanticCustomError(e["type"], e["msg"], e.get("ctx"))
            details.append({"type": kind, "loc": e["loc"], "input": e["input"]})
    return ValidationError.from_exception_data(title, details)


def _unsafe(loc: Loc, source: str, compile_script: Callable[[str], object]) -> list[Issue]:
    """The problem of a script whose `${{ }}` cannot reach its shell as a variable."""
    if "${{" not in source:
        return []
    try:
        compile_script(source)
    except UnsafeScript as exc:
        return [Issue(loc, exc.message, source, "unsafe_script", (exc.line, exc.column))]
    except ExpressionError:
        pass  # reported where the value stands, by its own check
    return []


def _shell_form(entrypoint: list[str] | None, command: list[str] | None) -> tuple[Loc, str] | None:
    """Where the script of a shell-form `entrypoint + command` is, and the script."""
    head = entrypoint or []
    argv = [*head, *(command or [])]
    at = shell_script_index(argv)
    if at is None:
        return None
    return (("entrypoint", at) if at < len(head) else ("command", at - len(head))), argv[at]


def _command_issues(entrypoint: list[str] | None, command: list[str] | None) -> list[Issue]:
    found = _shell_form(entrypoint, command)
    return _unsafe(found[0], found[1], compile_shell_script) if found else []


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _explain_unknown_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # pydantic says "Extra inputs are not permitted"; name the key and the likely fix.
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors()
            own = [e for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
            if not own:
                raise
            known = [f.alias or name for name, f in cls.model_fields.items()]
            rebuilt: list[ErrorDetails | Issue] = []
            for e in errors:
                if e in own:
                    key = str(e["loc"][0])
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    message = f"unknown key {key!r}{hint}"
                    rebuilt.append(Issue(e["loc"], message, e["input"], "unknown_key"))
                else:
                    rebuilt.append(e)
            raise _errors(cls.__name__, rebuilt) from None


class ImageFilter(_Model):
    """Which pushes start the workflow; every given criterion must accept the event."""

    repositories: list[RepositoryGlob] = Field(min_length=1)
    tags: list[TagPattern] = Field(default=["*"], min_length=1)
    sources: list[SourceName] | None = None
    registries: list[RegistryGlob] | None = None


class Trigger(_Model):
    """`on:`: what starts a run."""

    image: ImageFilter


class RunSpec(_Model):
    """A host shell step: the script, optionally its shell and working directory."""

    script: Text
    shell: str | None = None
    working_directory: Text | None = None


class ContainerSpec(_Model):
    """Run a command in a container (the image is usually `${{ event.image }}`)."""

    image: Text = "${{ event.image }}"
    command: list[Text] | None = None
    entrypoint: list[Text] | None = None
    env: Env = {}
    workdir: Text | None = None
    user: str | None = None
    network: str | None = None
    memory: MemorySize | None = None
    cpus: float | None = Field(default=None, gt=0)
    pids: int | None = Field(default=None, gt=0)
    pull: Annotated[
        Literal["always", "if-missing", "never"],
        # "missing" is accepted for "if-missing", the spelling of several CI tools.
        BeforeValidator(lambda v: "if-missing" if v == "missing" else v),
    ] = "if-missing"

    @model_validator(mode="after")
    def _safe_script(self) -> Self:
        issues = _command_issues(self.entrypoint, self.command)
        if issues:
            raise _errors("ContainerSpec", issues)
        return self


class PromoteSpec(_Model):
    """Copy the run's image, by digest, to other tags or registries."""

    to: TextList = Field(min_length=1)
    if_exists: Literal["overwrite", "skip", "fail"] = "overwrite"
    # Carry the image's signatures, attestations and SBOMs (referrers, cosign tags) too.
    signatures: bool = False


class CallbackSpec(_Model):
    """`callback: dockerhub` (the event's callback_url) or `callback: {url: …}`."""

    url: Text | None = None  # None: Docker Hub's callback_url from the event

    @property
    def dockerhub(self) -> bool:
        return self.url is None

    @model_serializer(mode="wrap")
    def _dump_shorthand(self, handler: SerializerFunctionWrapHandler) -> Any:
        return "dockerhub" if self.url is None else handler(self)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value == "dockerhub":
            return {}
        if isinstance(value, Mapping) and "url" not in value:
            raise PydanticCustomError(
                "callback", "a callback mapping needs url; use `callback: dockerhub` for Docker Hub"
            )
        if not isinstance(value, Mapping):
            raise PydanticCustomError("callback", "callback must be 'dockerhub' or {url: …}")
        return value


_CALLBACK_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"const": "dockerhub"},
            {
                "type": "object",
                "properties": {"url": {"type": "string"}},
                "required": ["url"],
                "additionalProperties": False,
            },
        ]
    }
)


class NotifySpec(_Model):
    """Send a message to Apprise URLs when the run ends in one of `when`."""

    urls: list[Text] = Field(min_length=1)
    when: list[Literal["success", "failure", "approval", "always", "cancelled"]] = Field(
        default=["always"], min_length=1
    )
    title: Text | None = None
    body: Text | None = None


StepSpec = RunSpec | ContainerSpec | PromoteSpec | CallbackSpec | NotifySpec


class Step(_Model):
    """One step; exactly one kind key (`run`, `container`, …) says what it does."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [k]} for k in STEP_KINDS]})

    name: Text | None = None
    id: StepId | None = None
    if_: CelExpr | None = Field(default=None, alias="if")
    env: Env = {}
    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=10)
    continue_on_error: bool = False
    run: Text | None = None
    shell: str | None = None
    working_directory: Text | None = None
    container: ContainerSpec | None = None
    promote: PromoteSpec | None = None
    callback: Annotated[CallbackSpec | None, _CALLBACK_SCHEMA] = None
    notify: NotifySpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            found = f" (found {' and '.join(given)})" if given else ""
            raise PydanticCustomError("step_kind", _ONE_KIND + found)
        if given[0] != "run":
            misplaced = [k for k in ("shell", "working_directory") if getattr(self, k) is not None]
            if misplaced:
                message = f"{misplaced[0]} belongs to a run step"
                raise _errors("Step", [Issue((misplaced[0],), message)])
        return self

    @model_validator(mode="after")
    def _safe_script(self) -> Self:
        if self.run is None:
            return self
        if self.shell is not None:
            try:
                words = shlex.split(self.shell)
            except ValueError as exc:
                words, why = [], f": {exc}"
            else:
                why = ""
            if not words:
                message = f"shell {self.shell!r} is not a command such as `bash` or `python3 -c`"
                raise _errors("Step", [Issue(("shell",), message + why, self.shell)])
        issues = _unsafe(("run",), self.run, lambda s: compile_run_script(s, self.shell))
        if issues:
            raise _errors("Step", issues)
        return self

    @property
    def kind(self) -> str:
        """The kind key: one of STEP_KINDS."""
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> StepSpec:
        """The kind's model; a run step's script, shell and working directory as RunSpec."""
        if self.run is not None:
            return RunSpec.model_construct(
                script=self.run, shell=self.shell, working_directory=self.working_directory
            )
        spec: StepSpec = getattr(self, self.kind)
        return spec


class Ready(_Model):
    """When a service counts as up. The image's HEALTHCHECK decides when it has one;
    else a TCP port on 127.0.0.1 that accepts, or a command in the container that exits
    0; with none of these, a running container."""

    port: int | None = Field(default=None, ge=1, le=65535)
    command: list[Text] | None = None
    timeout: Duration = 60.0

    @model_validator(mode="after")
    def _one(self) -> Self:
        if self.port is not None and self.command is not None:
            raise _errors("Ready", [Issue((), "ready takes a port or a command, not both")])
        found = _shell_form(None, self.command)
        if found and "${{" in found[1]:
            message = (
                "a ready command's script cannot use ${{ }}: set the value in the "
                "service's env: and read it as $NAME"
            )
            raise _errors("Ready", [Issue(found[0], message, found[1], "unsafe_script")])
        return self


class Service(_Model):
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
        issues = _command_issues(self.entrypoint, self.command)
        if issues:
            raise _errors("Service", issues)
        return self


class Approval(_Model):
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
            raise _errors("Approval", [Issue(("required",), message, self.required)])
        return self


class Job(_Model):
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
            raise _errors("Job", [Issue(("steps",), "an approval job has no steps")])
        seen: set[str] = set()
        for i, step in enumerate(self.steps):
            if step.id is not None and step.id in seen:
                message = f"step id {step.id!r} is used twice in this job"
                raise _errors("Job", [Issue(("steps", i, "id"), message, step.id)])
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


def callbacks_outside_finally(workflow: Workflow) -> list[Issue]:
    """A callback reports the run's result, which is known only in `finally`."""
    return [
        Issue(
            ("jobs", job_id, "steps", i, "callback"),
            "a callback reports the run's result: put it under `finally:`",
        )
        for job_id, job in workflow.jobs.items()
        for i, step in enumerate(job.steps)
        if step.callback is not None
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


class Workflow(_Model):
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
            raise _errors(cls.__name__, [*exc.errors(), *problems]) from None
        problems = graph_problems({k: job.needs for k, job in workflow.jobs.items()})
        problems.extend(callbacks_outside_finally(workflow))
        if problems:
            raise _errors(cls.__name__, problems)
        return workflow


def workflow_json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file (keys as written in YAML)."""
    schema = Workflow.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
