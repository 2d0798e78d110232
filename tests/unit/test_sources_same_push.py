"""Every source, fed its sender's webhook for one and the same push, makes the same event.

The push: `acme/web:v1.2.3`, an OCI index `sha256:ac93…8658`, by `ci-bot`, recorded as each
sender posts it (`tests/fixtures/webhooks/NAME/push.json`). Where a sender fixes the
registry (Docker Hub, GHCR, ECR, ACR, GAR, Artifactory's platform) or leaves a field out
(no digest from Docker Hub or Quay, no pusher from ACR, ECR or GAR), the table says so:
what a sender does give must be exactly what every other gives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tidegate.events.sources import SOURCES

WEBHOOKS = Path(__file__).parent.parent / "fixtures" / "webhooks"
DIGEST = "sha256:ac93aa569fdb10c4dd912deb0b8e7deda0c4a804cec001b020db243eca7f8658"
INDEX = "application/vnd.oci.image.index.v1+json"
THE_PUSH = {
    "registry": "registry.example.com",
    "repository": "acme/web",
    "tag": "v1.2.3",
    "digest": DIGEST,
    "media_type": INDEX,
    "pusher": "ci-bot",
}
# What each sender says otherwise: its own registry host, and "" for what it never sends.
DIFFERS: dict[str, dict[str, str]] = {
    "dockerhub": {"registry": "docker.io", "digest": ""},
    "registry": {},
    "harbor": {"registry": "harbor.example.com", "media_type": ""},
    "ghcr": {"registry": "ghcr.io"},
    "quay": {"registry": "quay.io", "digest": "", "media_type": "", "pusher": ""},
    "acr": {"registry": "acme.azurecr.io", "pusher": ""},
    "ecr": {"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "pusher": ""},
    # GAR names repositories PROJECT/REPOSITORY/IMAGE.
    "gar": {
        "registry": "europe-west1-docker.pkg.dev",
        "repository": "acme-ci/containers/web",
        "media_type": "",
        "pusher": "",
    },
    "artifactory": {"registry": "acme.jfrog.io", "media_type": ""},
    "cloudevents": {},
}
# The sender's own id for the delivery; None: it gives none (the body's hash stands in).
DELIVERY_IDS: dict[str, str | None] = {
    "dockerhub": None,
    "registry": "e6b3f9d2-7a4c-4e1b-b8d5-3f7a9c1e5b99",
    "harbor": None,
    "ghcr": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "quay": None,
    "acr": "cb8c3971-9adc-488b-bdd8-43cbb4974ff5",
    "ecr": "13cde686-328b-6117-af20-0e5566167482",
    "gar": "2070443601311540",
    "artifactory": None,
    "cloudevents": "c3a0e7d2-8f4b-4b8e-9a61-0d2f5c7e9b14",
}


def test_the_table_names_every_source() -> None:
    assert set(DIFFERS) == set(SOURCES) == set(DELIVERY_IDS)


@pytest.mark.parametrize("name", SOURCES)
def test_the_same_push_makes_the_same_event(name: str) -> None:
    body = (WEBHOOKS / name / "push.json").read_bytes()
    expected: dict[str, Any] = json.loads((WEBHOOKS / name / "push.expected.json").read_text())

    parsed = SOURCES[name].parse(body, expected["headers"])

    assert parsed.ignored == []
    (event,) = parsed.events
    fields = {key: getattr(event, key) for key in THE_PUSH}
    assert fields == THE_PUSH | DIFFERS[name]
    assert event.source == name
    delivery = DELIVERY_IDS[name]
    if delivery is not None:
        assert event.delivery_id == delivery
    else:
        assert event.delivery_id.startswith("sha256:")
