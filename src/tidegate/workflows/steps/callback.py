"""`callback:` report the run's result: `callback: dockerhub` or `callback: {url: …}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tidegate.workflows.fields import Text
from tidegate.workflows.steps.base import StepKindSpec, StepSpec


class CallbackSpec(StepSpec):
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


_SCHEMA = WithJsonSchema(
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

KIND = StepKindSpec(
    "callback",
    CallbackSpec,
    fields={"callback": (Annotated[CallbackSpec | None, _SCHEMA], None)},
    # The run's result is known only there.
    finally_only="a callback reports the run's result: put it under `finally:`",
)
