"""JFrog Artifactory: the Docker domain's webhook, event `pushed` (a tag was pushed).

`data` names the Docker repository (`repo_key`), the image (`image_name`), the tag and
the manifest's `sha256` (the manifest digest); `jpd_origin` is the platform's URL. The
image is addressed as `HOST/REPO_KEY/IMAGE` (Artifactory's repository path method).
The webhook's secret token comes in `X-JFrog-Event-Auth`: as is, or, with "Use secret
for payload signing" on, as the hex HMAC-SHA256 of the body under it; either is checked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from tidegate.events import grammar
from tidegate.events.sources import fields
from tidegate.events.sources.auth import NO_AUTH, HookAuth, check_signature, signature_of
from tidegate.events.sources.base import Parsed, Sample, body_hash, load_json, split_reference
from tidegate.image_event import ImageEvent

AUTH = "x-jfrog-event-auth"
SAMPLE_ORIGIN = "https://acme.jfrog.io"
SAMPLE_REPO_KEY = "docker-local"


class ArtifactorySource:
    name = "artifactory"
    bindable = True  # jpd_origin names the platform's host
    takes_secret = True
    secret_header: str | None = None

    def verify(self, headers: Mapping[str, str], body: bytes, auth: HookAuth) -> None:
        check_signature(headers, AUTH, auth, body, or_plain=True)

    def sign(self, body: bytes, auth: HookAuth) -> dict[str, str]:
        return signature_of(AUTH, auth, body)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        doc = fields.document(load_json(body), "an Artifactory webhook with event_type")
        event_type = fields.text(doc, "event_type", "event_type", required=True)
        domain = fields.text(doc, "domain", "domain")
        if domain and domain != "docker":
            return Parsed(ignored=[f"an Artifactory {grammar.clip(domain)} event, not Docker"])
        if event_type != "pushed":
            return Parsed(ignored=[f"Docker {grammar.clip(event_type)} is not a push"])
        data = fields.obj(doc, "data", "data", required=True)
        repo_key = fields.text(data, "repo_key", "data.repo_key", required=True)
        image = fields.text(data, "image_name", "data.image_name", required=True)
        repository = f"{repo_key}/{image}".lower()
        fields.check(grammar.repository_problem(repository), "data.image_name")
        sha256 = fields.text(data, "sha256", "data.sha256")
        digest = f"sha256:{sha256}" if sha256 else ""
        fields.check(grammar.digest_problem(digest), "data.sha256")
        origin = fields.text(doc, "jpd_origin", "jpd_origin", grammar.url_problem, required=True)
        return Parsed(
            events=[
                ImageEvent(
                    source=self.name,
                    delivery_id=body_hash(body),
                    registry=fields.url_host(origin, "jpd_origin"),
                    repository=repository,
                    tag=fields.text(data, "tag", "data.tag", grammar.tag_problem, required=True),
                    digest=digest,
                    pusher=_pusher(fields.text(doc, "source", "source")),
                    raw=doc,
                )
            ]
        )

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        body = artifactory_payload(reference, repo_key="")
        return body, {"content-type": "application/json", **self.sign(body, auth)}


def _pusher(source: str) -> str:
    """`jfrog/user@example.com` (the platform and the user) → the user."""
    return source.partition("/")[2] or source


def artifactory_payload(
    reference: str,
    *,
    origin: str = SAMPLE_ORIGIN,
    repo_key: str = SAMPLE_REPO_KEY,
    digest: str = "",
    pusher: str = "tidegate-simulate",
) -> bytes:
    """What Artifactory posts when `reference` (`image:tag`) is pushed to `repo_key`;
    `repo_key` "" takes the reference's first component as the repository key."""
    repository, tag = split_reference(reference)
    if not repo_key:
        repo_key, _, repository = repository.partition("/")
        if not repository:
            repo_key, repository = SAMPLE_REPO_KEY, repo_key
    sha256 = (digest or "sha256:" + uuid.uuid4().hex * 2).removeprefix("sha256:")
    doc = {
        "domain": "docker",
        "event_type": "pushed",
        "data": {
            "repo_key": repo_key,
            "event_type": "pushed",
            "path": f"{repository}/{tag}/manifest.json",
            "name": "manifest.json",
            "sha256": sha256,
            "size": 1206,
            "image_name": repository,
            "tag": tag,
            "platforms": [{"architecture": "amd64", "os": "linux"}],
        },
        "subscription_key": "tidegate",
        "jpd_origin": origin,
        "source": f"jfrog/{pusher}",
    }
    return json.dumps(doc).encode()
