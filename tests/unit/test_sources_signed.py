"""The sources that sign or send a secret, and each new source's own cases: how the
secret is checked, what is ignored and why, and the ways a body can be wrong."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tidegate.errors import PayloadError
from tidegate.events.hooks import checked_secret
from tidegate.events.sources import SOURCES
from tidegate.events.sources.auth import HookAuth, Refused, hmac_sha256

WEBHOOKS = Path(__file__).parent.parent / "fixtures" / "webhooks"
SECRET = "tidegate-fixture-secret-0001"  # what the recorded headers were signed with
AUTH = HookAuth(SECRET)


def recorded(source: str, case: str) -> tuple[bytes, dict[str, str]]:
    body = (WEBHOOKS / source / f"{case}.json").read_bytes()
    expected = json.loads((WEBHOOKS / source / f"{case}.expected.json").read_text())
    return body, dict(expected["headers"])


def doc(source: str, case: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((WEBHOOKS / source / f"{case}.json").read_text())
    return loaded


def refused(source: str, body: bytes, headers: dict[str, str], auth: HookAuth = AUTH) -> str:
    with pytest.raises(Refused) as caught:
        SOURCES[source].verify(headers, body, auth)
    return caught.value.reason


# The recorded deliveries verify with the secret they were made with ----------------------


@pytest.mark.parametrize(
    "path",
    sorted(p for p in WEBHOOKS.glob("*/*.json") if not p.name.endswith(".expected.json")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_every_recording_verifies_with_the_fixture_secret(path: Path) -> None:
    body, headers = recorded(path.parent.name, path.stem)
    SOURCES[path.parent.name].verify(headers, body, AUTH)


@pytest.mark.parametrize("source", ["ghcr", "artifactory"])
def test_a_signature_covers_every_byte_of_the_body(source: str) -> None:
    body, headers = recorded(source, "push")
    assert refused(source, body + b" ", headers) == "mismatch"
    assert refused(source, body.replace(b"v1.2.3", b"v1.2.4"), headers) == "mismatch"


def test_ghcr_signature_needs_its_prefix() -> None:
    body, headers = recorded("ghcr", "push")
    bare = headers | {"x-hub-signature-256": hmac_sha256(SECRET, body)}
    assert refused("ghcr", body, bare) == "mismatch"
    assert refused("ghcr", body, {"x-hub-signature-256": ""}) == "missing"


def test_artifactory_takes_the_token_as_is_or_the_signature() -> None:
    body, headers = recorded("artifactory", "push")
    SOURCES["artifactory"].verify({"x-jfrog-event-auth": SECRET}, body, AUTH)
    SOURCES["artifactory"].verify(headers, body, AUTH)
    assert refused("artifactory", body, {"x-jfrog-event-auth": SECRET + "x"}) == "mismatch"


def test_harbor_compares_the_auth_header_verbatim() -> None:
    body, _ = recorded("harbor", "push")
    SOURCES["harbor"].verify({"authorization": SECRET}, body, AUTH)
    assert refused("harbor", body, {"authorization": f"Bearer {SECRET}"}) == "mismatch"
    assert refused("harbor", body, {"authorization": SECRET.upper()}) == "mismatch"
    assert refused("harbor", body, {}) == "missing"
    # A Harbor "Auth Header" is often a scheme and a credential: the secret is all of it.
    basic = HookAuth("Basic dGlkZWdhdGU6aGFyYm9yLXNlY3JldA==")
    SOURCES["harbor"].verify({"authorization": basic.secret}, body, basic)


@pytest.mark.parametrize("value", [SECRET, f"Bearer {SECRET}", f"bearer {SECRET}"])
def test_acr_takes_the_secret_raw_or_as_a_bearer_token(value: str) -> None:
    body, _ = recorded("acr", "push")
    SOURCES["acr"].verify({"authorization": value}, body, AUTH)


def test_cloudevents_wants_a_bearer_token() -> None:
    body, _ = recorded("cloudevents", "push")
    SOURCES["cloudevents"].verify({"authorization": f"Bearer {SECRET}"}, body, AUTH)
    assert refused("cloudevents", body, {"authorization": SECRET}) == "mismatch"


def test_ecr_reads_the_header_the_hook_names() -> None:
    body, _ = recorded("ecr", "push")
    named = HookAuth(SECRET, "x-tidegate-key")
    SOURCES["ecr"].verify({"x-tidegate-key": SECRET}, body, named)
    assert refused("ecr", body, {"x-api-key": SECRET}, named) == "missing"
    SOURCES["ecr"].verify({"x-api-key": SECRET}, body, AUTH)


def test_a_hook_without_a_secret_verifies_nothing_of_a_signing_source() -> None:
    body, headers = recorded("ghcr", "push")
    assert refused("ghcr", body, headers, HookAuth()) == "no_secret"


# Hook secrets ------------------------------------------------------------------------------


def test_a_signing_source_gets_a_new_secret_when_none_is_given() -> None:
    secret, header = checked_secret("ghcr", None)
    assert len(secret) >= 40 and header == ""
    assert checked_secret("ghcr", None)[0] != secret
    assert checked_secret("ecr", SECRET, "X-Tidegate-Key") == (SECRET, "x-tidegate-key")


@pytest.mark.parametrize(
    ("source", "secret", "header", "message"),
    [
        ("quay", SECRET, "", "signs nothing"),
        ("gar", SECRET, "", "signs nothing"),
        ("dockerhub", None, "x-api-key", "signs nothing"),
        ("ghcr", "short", "", "16 to 512 characters"),
        ("ghcr", " " + SECRET, "", "printable ASCII"),
        ("ghcr", SECRET + "\n", "", "printable ASCII"),
        ("acr", SECRET + "é", "", "printable ASCII"),
        ("acr", SECRET, "x-api-key", "header of its own choosing"),
        ("ecr", SECRET, "x api key", "HTTP header name"),
    ],
)
def test_secrets_a_hook_cannot_take(
    source: str, secret: str | None, header: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        checked_secret(source, secret, header)


# Ignored, with a reason ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "case", "reason"),
    [
        ("harbor", "delete", "DELETE_ARTIFACT"),
        ("harbor", "scan_completed", "SCANNING_COMPLETED"),
        ("ghcr", "ping", "ping"),
        ("ghcr", "npm_package", "npm"),
        ("ghcr", "untagged_platform_manifest", "untagged"),
        ("quay", "build_success", "not a push"),
        ("acr", "chart_push", "chart_push"),
        ("acr", "delete", "delete"),
        ("acr", "ping", "ping"),
        ("ecr", "delete", "DELETE"),
        ("ecr", "push_failed", "FAILURE"),
        ("ecr", "scan", "ECR Image Scan"),
        ("gar", "delete", "DELETE"),
        ("gar", "untagged", "untagged"),
        ("artifactory", "deleted", "deleted"),
        ("artifactory", "artifact_deployed", "artifact"),
        ("cloudevents", "other_type", "image.deleted"),
    ],
)
def test_what_is_not_an_image_push_is_ignored_with_its_reason(
    source: str, case: str, reason: str
) -> None:
    body, headers = recorded(source, case)
    parsed = SOURCES[source].parse(body, headers)
    assert parsed.events == []
    (said,) = parsed.ignored
    assert reason in said


# Bodies that are wrong ----------------------------------------------------------------------


def _without(data: dict[str, Any], path: str) -> dict[str, Any]:
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    del node[last]
    return data


@pytest.mark.parametrize(
    ("source", "path", "field"),
    [
        ("harbor", "event_data.resources.0.resource_url", "event_data.resources.0.resource_url"),
        ("harbor", "event_data", "event_data"),
        ("ghcr", "package.package_version", "package.package_version"),
        ("quay", "docker_url", "docker_url"),
        ("acr", "request", "request"),
        ("acr", "target.repository", "target.repository"),
        ("ecr", "account", "account"),
        ("ecr", "detail.repository-name", "detail.repository-name"),
        ("artifactory", "data.image_name", "data.image_name"),
        ("artifactory", "jpd_origin", "jpd_origin"),
        ("cloudevents", "data.registry", "data.registry"),
        ("cloudevents", "id", "id"),
    ],
)
def test_a_missing_field_is_named(source: str, path: str, field: str) -> None:
    _, headers = recorded(source, "push")
    body = json.dumps(_without(doc(source, "push"), path)).encode()
    with pytest.raises(PayloadError) as caught:
        SOURCES[source].parse(body, headers)
    assert caught.value.field == field


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_truncated_json_is_a_payload_error(source: str) -> None:
    body, headers = recorded(source, "push")
    with pytest.raises(PayloadError, match="malformed JSON"):
        SOURCES[source].parse(body[: len(body) // 2], headers)


@pytest.mark.parametrize(
    ("source", "change", "field"),
    [
        ("ecr", {"region": "eu-west-1/../x"}, "region"),
        ("ecr", {"account": "12345"}, "account"),
        ("cloudevents", {"specversion": "0.3"}, "specversion"),
    ],
)
def test_a_bad_top_level_value_is_named(source: str, change: dict[str, Any], field: str) -> None:
    _, headers = recorded(source, "push")
    body = json.dumps(doc(source, "push") | change).encode()
    with pytest.raises(PayloadError) as caught:
        SOURCES[source].parse(body, headers)
    assert caught.value.field == field


def test_harbor_resource_url_must_name_the_repository() -> None:
    data = doc("harbor", "push")
    data["event_data"]["resources"][0]["resource_url"] = "harbor.example.com/other/img:v1"
    with pytest.raises(PayloadError, match="not acme/web"):
        SOURCES["harbor"].parse(json.dumps(data).encode(), {})


def test_quay_two_tags_are_two_events_with_distinct_ids() -> None:
    body, headers = recorded("quay", "push_two_tags")
    events = SOURCES["quay"].parse(body, headers).events
    assert [e.tag for e in events] == ["2.0.0", "latest"]
    assert len({e.delivery_id for e in events}) == 2
    assert all(e.digest == "" for e in events)  # the engine's pinning resolves it


def test_gar_data_that_is_not_base64_or_not_json() -> None:
    data = doc("gar", "push")
    data["message"]["data"] = "not base64!"
    with pytest.raises(PayloadError, match="not base64"):
        SOURCES["gar"].parse(json.dumps(data).encode(), {})
    data["message"]["data"] = base64.b64encode(b"{nope").decode()
    with pytest.raises(PayloadError, match="malformed JSON"):
        SOURCES["gar"].parse(json.dumps(data).encode(), {})


def test_gar_raw_holds_the_decoded_message() -> None:
    body, headers = recorded("gar", "push")
    (event,) = SOURCES["gar"].parse(body, headers).events
    assert event.raw["message"]["data"]["action"] == "INSERT"


def test_cloudevents_needs_a_tag_or_a_digest() -> None:
    data = doc("cloudevents", "push")
    del data["data"]["tag"], data["data"]["digest"]
    with pytest.raises(PayloadError, match="neither tag nor digest"):
        SOURCES["cloudevents"].parse(json.dumps(data).encode(), {})


def test_ghcr_delivery_id_comes_from_its_header() -> None:
    body, headers = recorded("ghcr", "push")
    (event,) = SOURCES["ghcr"].parse(body, headers).events
    assert event.delivery_id == headers["x-github-delivery"]
    with pytest.raises(PayloadError):
        SOURCES["ghcr"].parse(body, headers | {"x-github-delivery": "a\nb"})


def test_ghcr_lower_cases_an_owner_with_capitals() -> None:
    data = doc("ghcr", "push")
    data["package"]["package_version"]["package_url"] = "ghcr.io/Acme/Web:v1.2.3"
    (event,) = SOURCES["ghcr"].parse(json.dumps(data).encode(), {}).events
    assert event.repository == "acme/web"
    data["package"]["package_version"]["package_url"] = "docker.io/acme/web:v1.2.3"
    with pytest.raises(PayloadError, match="not on ghcr.io"):
        SOURCES["ghcr"].parse(json.dumps(data).encode(), {})
