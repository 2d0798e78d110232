"""Workflow files: load (YAML with positions) → validate (pydantic) → compile (CEL, patterns).

Pure code: no database, no network. Executors never see YAML, only these models.
"""

from tidegate.workflows.expr import (
    CONTEXTS,
    Condition,
    Template,
    compile_condition,
    compile_template,
    event_context,
    template_names,
    to_cel,
)
from tidegate.workflows.fields import parse_duration
from tidegate.workflows.loader import (
    LoadedWorkflow,
    LoadResult,
    Problem,
    WorkflowDirectory,
    WorkflowInvalid,
    load_workflow,
    load_workflows,
    parse_workflow_text,
)
from tidegate.workflows.match import matches, tag_matches
from tidegate.workflows.schema import (
    Approval,
    ImageFilter,
    Job,
    Service,
    Step,
    Trigger,
    Workflow,
    workflow_json_schema,
)
from tidegate.workflows.semver import Range, Version, parse_range, parse_version
from tidegate.workflows.steps import (
    STEP_KINDS,
    CallbackSpec,
    ContainerSpec,
    NotifySpec,
    PromoteSpec,
    RunSpec,
    StepSpec,
)

__all__ = [
    "CONTEXTS",
    "STEP_KINDS",
    "Approval",
    "CallbackSpec",
    "Condition",
    "ContainerSpec",
    "ImageFilter",
    "Job",
    "LoadResult",
    "LoadedWorkflow",
    "NotifySpec",
    "Problem",
    "PromoteSpec",
    "Range",
    "RunSpec",
    "Service",
    "Step",
    "StepSpec",
    "Template",
    "Trigger",
    "Version",
    "Workflow",
    "WorkflowDirectory",
    "WorkflowInvalid",
    "compile_condition",
    "compile_template",
    "event_context",
    "load_workflow",
    "load_workflows",
    "matches",
    "parse_duration",
    "parse_range",
    "parse_version",
    "parse_workflow_text",
    "tag_matches",
    "template_names",
    "to_cel",
    "workflow_json_schema",
]
