"""Registry credentials: given directly, or from a docker `config.json`.

Order for a host: credentials given to `CredentialStore` (per-registry settings), then
the config's credential helper (`credHelpers[host]`, else `credsStore`), then its `auths`
entry, then anonymous. A helper that is missing or fails does not stop a pull of a
public image: the lookup falls back and keeps the reason in `CredentialLookup.problem`.

Docker Hub is one registry under several names (`docker.io`, `index.docker.io`,
`registry-1.docker.io`); `docker login` stores it as `https://index.docker.io/v1/`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tidegate.registry.hosts import DOCKER_HUB, registry_name

log = logging.getLogger(__name__)

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
# What `docker-credential-*` helpers print when they hold nothing for the host.
_NOT_FOUND = "credentials not found in native keychain"


@dataclass(frozen=True)
class Credentials:
    """A user name with a password, or with an identity (refresh) token."""

    username: str
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    def __repr__(self) -> str:
        secret = "identity_token='***'" if self.identity_token else "password='***'"
        return f"Credentials(username={self.username!r}, {secret})"

    __str__ = __repr__


@dataclass(frozen=True)
class CredentialLookup:
    """What a lookup found: `source` says where from; `problem` why it fell back."""

    credentials: Credentials | None
    source: str = "anonymous"
    problem: str | None = None


class CredentialStore:
    """Looks up credentials per registry host; call it as `credentials_for`.

    `config_path` is a docker `config.json` (the caller resolves `$DOCKER_CONFIG` or
    `~/.docker`); it is read at each lookup, so a `docker login` is seen without a
    restart. `env` is the environment for credential helpers (None: inherit ours).
    """

    def __init__(
        self,
        config_path: Path | None = None,
        given: Mapping[str, tuple[str, str]] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        helper_timeout: float = 30,
    ) -> None:
        self.config_path = config_path
        self._given = {_canonical(host): pair for host, pair in (given or {}).items()}
        self._env = dict(env) if env is not None else None
        self._helper_timeout = helper_timeout

    def __call__(self, host: str) -> Credentials | None:
        return self.lookup(host).credentials

    def lookup(self, host: str) -> CredentialLookup:
        """Credentials for `host` (`docker.io`, `ghcr.io`, `127.0.0.1:5000`), or why none."""
        key = _canonical(host)
        if key in self._given:
            username, password = self._given[key]
            return CredentialLookup(Credentials(username, password), "settings")
        config, problem = self._read_config()
        helper = _helper_for(config, key)
        if helper:
            found, helper_problem = self._run_helper(helper, key)
            if found:
                return CredentialLookup(found, f"docker-credential-{helper}")
            problem = problem or helper_problem
        found, auths_problem = _from_auths(config, key)
        if found:
            return CredentialLookup(found, "config.json auths", problem)
        problem = problem or auths_problem
        if problem:
            log.warning("no registry credentials for %s: %s", registry_name(host), problem)
        return CredentialLookup(None, "anonymous", problem)

    def _read_config(self) -> tuple[dict[str, Any], str | None]:
        if self.config_path is None:
            return {}, None
        try:
            data = json.loads(self.config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {}, f"cannot read {self.config_path}: {type(exc).__name__}"
        if not isinstance(data, dict):
            return {}, f"{self.config_path} is not a JSON object"
        return data, None

    def _run_helper(self, helper: str, key: str) -> tuple[Credentials | None, str | None]:
        program = f"docker-credential-{helper}"
        server = DOCKER_HUB_KEY if key == DOCKER_HUB else key
        try:
            done = subprocess.run(
                [program, "get"],
                input=server,
                capture_output=True,
                text=True,
                env=self._env,
                timeout=self._helper_timeout,
                check=False,
            )
        except FileNotFoundError:
            return None, f"{program} is not installed (not on PATH)"
        except subprocess.TimeoutExpired:
            return None, f"{program} did not answer in {self._helper_timeout:g}s"
        except OSError as exc:
            return None, f"{program} could not run: {exc.strerror or type(exc).__name__}"
        if done.returncode != 0:
            said = (done.stdout.strip() or done.stderr.strip()).splitlines()
            if said and said[0] == _NOT_FOUND:
                return None, None
            reason = said[0][:200] if said else "no output"
            return None, f"{program} get failed (exit {done.returncode}): {reason}"
        try:
            answer = json.loads(done.stdout)
            username, secret = str(answer["Username"]), str(answer["Secret"])
        except (json.JSONDecodeError, KeyError, TypeError):
            return None, f"{program} get printed something other than its JSON answer"
        if username == "<token>":  # helpers' marker for an identity token
            return Credentials("<token>", identity_token=secret), None
        return Credentials(username, secret), None


def _canonical(host: str) -> str:
    """`https://ghcr.io/v1/` → `ghcr.io`; every Docker Hub alias → `docker.io`."""
    host = host.strip()
    if registry_name(host) == DOCKER_HUB:
        return DOCKER_HUB
    if "://" in host:
        host = urlsplit(host).netloc
    return registry_name(host.split("/", 1)[0].lower())


def _helper_for(config: Mapping[str, Any], key: str) -> str | None:
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for host, name in helpers.items():
            if _canonical(host) == key and isinstance(name, str) and name:
                return name
    store = config.get("credsStore")
    return store if isinstance(store, str) and store else None


def _from_auths(config: Mapping[str, Any], key: str) -> tuple[Credentials | None, str | None]:
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return None, None
    entry = next((v for k, v in auths.items() if _canonical(k) == key), None)
    if not isinstance(entry, dict):
        return None, None
    username, password = entry.get("username") or "", entry.get("password") or ""
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, f"config.json auths[{key!r}].auth is not base64 of user:password"
        username, sep, password = decoded.partition(":")
        if not sep:
            return None, f"config.json auths[{key!r}].auth lacks the ':' of user:password"
    token = entry.get("identitytoken") or ""
    if token:
        return Credentials(str(username) or "<token>", identity_token=str(token)), None
    if username and password:
        return Credentials(str(username), str(password)), None
    return None, None
