"""The outbound allow-list: which URLs a callback or notification may reach."""

from __future__ import annotations

import pytest

from tidegate.errors import OutboundRefused
from tidegate.security.allowlist import DOCKERHUB_CALLBACK_HOSTS, AllowList


@pytest.mark.parametrize(
    ("entries", "url", "allowed"),
    [
        # the default: Docker Hub's own hosts, any port, http or https
        (DOCKERHUB_CALLBACK_HOSTS, "https://registry.hub.docker.com/u/a/b/hook/x/", True),
        (DOCKERHUB_CALLBACK_HOSTS, "https://hub.docker.com/x", True),
        (DOCKERHUB_CALLBACK_HOSTS, "http://hub.docker.com:8443/x", True),
        (DOCKERHUB_CALLBACK_HOSTS, "https://evil.example.com/x", False),
        (DOCKERHUB_CALLBACK_HOSTS, "https://hub.docker.com.evil.com/x", False),
        (DOCKERHUB_CALLBACK_HOSTS, "https://docker.com/x", False),
        # case-insensitive, trailing dot
        (["Hooks.Example.COM"], "https://HOOKS.example.com/x", True),
        (["hooks.example.com"], "https://hooks.example.com./x", True),
        # ports: an entry with a port allows only that port (default ports count)
        (["example.com:8443"], "https://example.com:8443/", True),
        (["example.com:8443"], "https://example.com/", False),
        (["example.com:443"], "https://example.com/", True),
        (["example.com:80"], "http://example.com/", True),
        (["example.com:80"], "https://example.com/", False),
        # wildcards: any subdomain, never the apex
        (["*.example.com"], "https://a.example.com/", True),
        (["*.example.com"], "https://a.b.example.com/", True),
        (["*.example.com"], "https://example.com/", False),
        (["*.example.com"], "https://badexample.com/", False),
        (["*.example.com:9000"], "https://a.example.com:9000/", True),
        (["*.example.com:9000"], "https://a.example.com/", False),
        (["*"], "https://anything.example.org:1234/", True),
        # IPv6 and IPv4 literals
        (["[::1]"], "http://[::1]:8080/cb", True),
        (["::1"], "http://[::1]:8080/cb", True),
        (["[::1]:8080"], "http://[::1]:8080/cb", True),
        (["[::1]:8080"], "http://[::1]:9090/cb", False),
        (["[0:0::1]"], "http://[::1]/cb", True),
        (["127.0.0.1"], "http://127.0.0.1:5000/", True),
        (["127.0.0.1"], "http://[::1]:5000/", False),
        # schemes other than http(s) are never allowed
        (["*"], "ftp://example.com/", False),
        (["example.com"], "file://example.com/etc/passwd", False),
        (["example.com"], "javascript://example.com/", False),
        # userinfo does not make a host
        (["hub.docker.com"], "https://hub.docker.com@evil.com/", False),
        (["evil.com"], "https://hub.docker.com@evil.com/", True),
        # authorities that libraries disagree about are refused
        (["hub.docker.com"], "https://evil.com\\@hub.docker.com/", False),
        (["hub.docker.com"], "https://evil.com%40@hub.docker.com/", False),
        (["hub.docker.com"], "https://hub.docker.com\t/", False),
        (["hub.docker.com"], "https://hub.docker .com/", False),
        # garbage
        (["example.com"], "not a url", False),
        (["example.com"], "https://example.com:99999/", False),
        (["example.com"], "https:///path", False),
        ([], "https://example.com/", False),
    ],
)
def test_allows(entries: list[str], url: str, allowed: bool) -> None:
    assert AllowList(entries).allows(url) is allowed


def test_check_raises_naming_the_host_not_the_url() -> None:
    allow = AllowList(DOCKERHUB_CALLBACK_HOSTS)
    allow.check("https://hub.docker.com/x")
    with pytest.raises(OutboundRefused) as info:
        allow.check("https://evil.example.com/hook/s3cret?token=s3cret")
    assert "evil.example.com" in str(info.value)
    assert "s3cret" not in str(info.value)
    with pytest.raises(OutboundRefused, match="only http and https"):
        allow.check("ftp://hub.docker.com/")


def test_allows_host() -> None:
    allow = AllowList(["hooks.slack.com", "[::1]:80"])
    assert allow.allows_host("HOOKS.slack.com", 443)
    assert allow.allows_host("[::1]", 80)
    assert not allow.allows_host("::1", 81)
    assert not allow.allows_host("hooks.slack.com/x", 443)


def test_from_csv_and_blank_entries() -> None:
    allow = AllowList.from_csv(" hub.docker.com , ,localhost:8080")
    assert allow.allows("http://localhost:8080/")
    assert not allow.allows("http://localhost:8081/")
    assert "hub.docker.com" in repr(allow)


@pytest.mark.parametrize("entry", ["host:abc", "[::1]:x", ":80"])
def test_invalid_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="invalid allow-list entry"):
        AllowList([entry])
