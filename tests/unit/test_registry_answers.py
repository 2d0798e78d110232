"""What a registry error message repeats of the answer: known error codes, never words."""

from __future__ import annotations

import hashlib

import httpx2
import pytest

from tidegate.registry import ImageRef, RegistryClient, RegistryError
from tidegate.registry.answers import what_was_said

pytestmark = pytest.mark.anyio

SECRET = "internal-secret-7f3a"


def answer(status: int, body: bytes, **headers: str) -> httpx2.Response:
    return httpx2.Response(status, content=body, headers=headers)


@pytest.mark.parametrize(
    ("response", "said"),
    [
        (
            answer(
                404,
                b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"' + SECRET.encode() + b'"}]}',
            ),
            "manifest unknown",
        ),
        (
            answer(
                401,
                b'{"errors":[{"code":"UNAUTHORIZED"},{"code":"DENIED"},{"code":"UNAUTHORIZED"}]}',
            ),
            "unauthorized, denied",
        ),
        # codes the spec does not define are words too
        (answer(400, b'{"errors":[{"code":"' + SECRET.encode() + b'"}]}'), ""),
        (
            answer(
                401, b'{"error":"invalid_grant","error_description":"' + SECRET.encode() + b'"}'
            ),
            "invalid grant",
        ),
        (answer(401, b'{"error":"' + SECRET.encode() + b'"}'), ""),
        (answer(401, b'{"details":"' + SECRET.encode() + b'"}'), ""),
        (answer(500, b'{"message":"' + SECRET.encode() + b'"}'), ""),
        (answer(500, SECRET.encode(), **{"content-type": "text/plain"}), ""),
        (
            answer(200, b"<html>" + SECRET.encode() + b"</html>", **{"content-type": "text/html"}),
            "",
        ),
        (answer(401, b"", **{"www-authenticate": 'Bearer error="invalid_token"'}), "invalid token"),
        (answer(401, b"", **{"www-authenticate": f'Bearer error="{SECRET}"'}), ""),
        (answer(500, b"[" * 100_000), ""),
    ],
)
def test_only_known_codes_are_repeated(response: httpx2.Response, said: str) -> None:
    assert what_was_said(response) == said


REF = ImageRef.parse("registry.test/acme/web:v1")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 429, 500, 502])
async def test_an_error_message_never_quotes_the_body_or_headers(status: int) -> None:
    """Whatever answers (an internal service a sender pointed Tidegate at), the
    message is ours: the image, the status, a known code at most."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            status,
            headers={
                "Content-Type": "text/plain",
                "WWW-Authenticate": f'Basic realm="{SECRET}"',
                "Docker-Content-Digest": f"sha256:{SECRET}",
                "Retry-After": "0",
            },
            content=f"{SECRET}\n" * 50,
        )

    transport = httpx2.MockTransport(handler)
    async with RegistryClient(lambda host: None, transport=transport, attempts=1) as client:
        with pytest.raises(RegistryError) as caught:
            await client.resolve(REF)
    assert SECRET not in str(caught.value)
    assert caught.value.brief.startswith(f"HTTP {status}: ")


async def test_a_digest_header_that_is_no_digest_is_not_quoted() -> None:
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'

    def handler(request: httpx2.Request) -> httpx2.Response:
        headers = {
            "Content-Type": "application/vnd.oci.image.manifest.v1+json",
            "Docker-Content-Digest": f"sha256:{SECRET}",
        }
        return httpx2.Response(200, headers=headers, content=body)

    transport = httpx2.MockTransport(handler)
    async with RegistryClient(lambda host: None, transport=transport) as client:
        with pytest.raises(RegistryError) as caught:
            await client.get_manifest(REF)
    assert SECRET not in str(caught.value)
    assert "sha256:" + hashlib.sha256(body).hexdigest() in str(caught.value)
