"""Quay (quay.io and Red Hat Quay): the repository notification "Push to Repository".

The body names the repository and the tags the push updated (`updated_tags`), and no
digest: each tag becomes an event without one, which the engine pins by asking the
registry, as for Docker Hub. Quay signs nothing and sends no id: the hook's secret URL is
all there is, and the body's hash is the delivery id. Quay's body holds nothing that
tells two pushes of the same tag apart, so an identical body is a redelivery: a second
push of a tag is caught by `on.image.poll` (docs/sources.md says so).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from tidegate.errors import PayloadError
from tidegate.events import grammar
from tidegate.events.sources import fields
from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.events.sources.base import (
    Parsed,
    Sample,
    Unsigned,
    body_hash,
    load_json,
    nth,
    split_reference,
)
from tidegate.image_event import ImageEvent

SAMPLE_HOST = "quay.io"


class QuaySource(Unsigned):
    name = "quay"
    bindable = True  # docker_url names the Quay host (quay.io, or a Red Hat Quay's own)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        doc = fields.document(load_json(body), "a Quay repository notification")
        if "updated_tags" not in doc:
            # Build, vulnerability and mirror notifications share the endpoint shape.
            return Parsed(ignored=["a Quay notification that is not a push (no updated_tags)"])
        tags = fields.items(doc, "updated_tags", "updated_tags")
        url = fields.text(doc, "docker_url", "docker_url", required=True)
        registry, repository, _, _ = fields.reference(url, "docker_url")
        named = fields.text(doc, "repository", "repository", grammar.repository_problem)
        if named and named != repository:
            raise PayloadError(f"docker_url names {grammar.clip(repository)}", field="docker_url")
        if not tags:
            return Parsed(ignored=["a push that updated no tag"])
        delivery = body_hash(body)
        parsed = Parsed()
        for index, tag in enumerate(tags):
            if not isinstance(tag, str) or not tag:
                raise PayloadError(f"updated_tags.{index} must be a tag", field="updated_tags")
            fields.check(grammar.tag_problem(tag), f"updated_tags.{index}")
            parsed.events.append(
                ImageEvent(
                    source=self.name,
                    delivery_id=nth(delivery, index),
                    registry=registry,
                    repository=repository,
                    tag=tag,
                    raw=doc,
                )
            )
        return parsed

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        return quay_payload(reference), {"content-type": "application/json"}


def quay_payload(reference: str, *, host: str = SAMPLE_HOST) -> bytes:
    """What Quay posts when `reference` (`namespace/name:tag`) is pushed to `host`."""
    repository, tag = split_reference(reference)
    namespace, _, name = repository.partition("/")
    doc = {
        "name": name,
        "repository": repository,
        "namespace": namespace,
        "docker_url": f"{host}/{repository}",
        "homepage": f"https://{host}/repository/{repository}",
        "updated_tags": [tag],
    }
    return json.dumps(doc).encode()
