"""The outbound allow-list: which URLs a callback, notification or registry request may reach."""

from __future__ import annotations

import pytest

from tidegate.errors import OutboundRefused
from tidegate.security.allowlist import DOCKERHUB_CALLBACK_HOSTS, AllowList


@pytest.mark.parametrize(
    ("entries", "url", "allowed"),
    [
        # the default: Docker Hub's own hosts, over https on 443
        (DOCKERHUB_CALLBACK_HOSTS, "https://registry.hub.docker.com/u/a/b/hook/x/", True),
        (DOCKERHUB_CALLBACK_HOSTS, "https://hub.docker.com/x", True),
        (DOCKERHUB_CALLBACK_HOSTS, "https://hub.docker.com:443/x", True),
        (DOCKERHUB_CALLBACK_HOSTS, "http://hub.docker.com:8443/x", False),
        (DOCKERHUB_CALLBACK_HOSTS, "http://hub.docker.com/x", False),
        (DOCKERHUB_CALLBACK_HOSTS, "https://evil.example.com/x", False),
        (DOCKERHUB_CALLBACK_HOSTS, "https://hub.docker.com.evil.com/x", False),
        (DOCKERHUB_CALLBACK_HOSTS, "https://docker.com/x", False),
        # case-insensitive, trailing dot
        (["Hooks.Example.COM"], "https://HOOKS.example.com/x", True),
        (["hooks.example.com"], "https://hooks.example.com./x", True),
        # no port: https on 443 only, never plain http nor another port
        (["hooks.slack.com"], "https://hooks.slack.com/", True),
        (["hooks.slack.com"], "http://hooks.slack.com/", False),
        (["hooks.slack.com"], "http://hooks.slack.com:443/", False),
        (["hooks.slack.com"], "https://hooks.slack.com:8443/", False),
        (["hooks.slack.com"], "https://hooks.slack.com:80/", False),
        # ports: an entry with a port allows only that port, http or https
        (["example.com:8443"], "https://example.com:8443/", True),
        (["example.com:8443"], "http://example.com:8443/", True),
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
        (["*.example.com"], "http://a.example.com/", False),
        (["*.example.com:*"], "http://a.example.com:8080/", True),
        (["*"], "https://anything.example.org/", True),
        (["*"], "https://anything.example.org:1234/", False),
        (["*"], "http://anything.example.org/", False),
        (["*:*"], "https://anything.example.org:1234/", True),
        (["*:*"], "http://127.0.0.1:6379/", True),
        # any port: host:*
        (["localhost:*"], "http://localhost:5000/", True),
        (["localhost:*"], "https://localhost/", True),
        (["localhost:*"], "http://127.0.0.1:5000/", False),
        (["[::1]:*"], "http://[::1]:5000/", True),
        # IPv6 and IPv4 literals
        (["[::1]"], "https://[::1]/cb", True),
        (["[::1]"], "http://[::1]:8080/cb", False),
        (["::1"], "https://[::1]/cb", True),
        (["[::1]:8080"], "http://[::1]:8080/cb", True),
        (["[::1]:8080"], "http://[::1]:9090/cb", False),
        (["[0:0::1]"], "https://[::1]/cb", True),
        (["127.0.0.1"], "http://127.0.0.1:5000/", False),
        (["127.0.0.1:5000"], "http://127.0.0.1:5000/", True),
        (["127.0.0.1:*"], "http://[::1]:5000/", False),
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


def test_check_explains_the_port_rule() -> None:
    allow = AllowList(["hooks.slack.com"])
    with pytest.raises(OutboundRefused) as info:
        allow.check("http://hooks.slack.com/s3cret")
    assert str(info.value) == (
        "http://hooks.slack.com:80 is not on the outbound allow-list "
        "(an entry without a port allows https on port 443 only)"
    )
    with pytest.raises(OutboundRefused, match=r"hooks\.slack\.com:8443 is not"):
        allow.check("https://hooks.slack.com:8443/")


def test_allows_host() -> None:
    allow = AllowList(["hooks.slack.com", "[::1]:80"])
    assert allow.allows_host("HOOKS.slack.com", 443)
    assert not allow.allows_host("hooks.slack.com", 443, "http")
    assert not allow.allows_host("hooks.slack.com", 80, "http")
    assert allow.allows_host("hooks.slack.com", None)
    assert allow.allows_host("[::1]", 80)
    assert allow.allows_host("[::1]", 80, "http")
    assert not allow.allows_host("::1", 81)
    assert not allow.allows_host("hooks.slack.com/x", 443)
    assert not allow.allows_host("hooks.slack.com", 443, "ftp")


def test_names_only_exact_entries() -> None:
    """What a private address needs: the host itself, never a wildcard."""
    allow = AllowList(["*", "*:*", "*.internal:*", "registry.example.com", "10.0.0.5:5000"])
    assert allow.names("registry.example.com", 443)
    assert not allow.names("registry.example.com", 80)
    assert allow.names("10.0.0.5", 5000)
    assert not allow.names("10.0.0.5", 5001)
    assert not allow.names("a.internal", 5000)
    assert not allow.names("127.0.0.1", 443)
    assert AllowList(["LOCALHOST:*"]).names("localhost", 5000)
    assert AllowList(["[::1]:*"]).names("[0::1]", 9)


def test_from_csv_and_blank_entries() -> None:
    allow = AllowList.from_csv(" hub.docker.com , ,localhost:8080, 127.0.0.1:*")
    assert allow.allows("http://localhost:8080/")
    assert not allow.allows("http://localhost:8081/")
    assert allow.allows("http://127.0.0.1:8081/")
    assert "hub.docker.com" in repr(allow) and "127.0.0.1:*" in repr(allow)


def test_unrestricted_is_star_any_port() -> None:
    assert AllowList(["*:*"]).unrestricted
    assert not AllowList(["*"]).unrestricted
    assert not AllowList(["*.example.com:*"]).unrestricted


@pytest.mark.parametrize("entry", ["host:abc", "[::1]:x", ":80", "host:0", "host:65536", "*:**"])
def test_invalid_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="invalid allow-list entry"):
        AllowList([entry])
