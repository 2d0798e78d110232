"""`promote:` copy the run's image, by digest, to other tags or registries."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tidegate.workflows.fields import TextList
from tidegate.workflows.steps.base import StepKindSpec, StepSpec


class PromoteSpec(StepSpec):
    """Copy the run's image, by digest, to other tags or registries."""

    to: TextList = Field(min_length=1)
    if_exists: Literal["overwrite", "skip", "fail"] = "overwrite"
    # Carry the image's signatures, attestations and SBOMs (referrers, cosign tags) too.
    signatures: bool = False


KIND = StepKindSpec("promote", PromoteSpec)
