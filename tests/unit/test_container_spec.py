"""ContainerRun → docker SDK `containers.create(**kwargs)`: pure translation and validation."""

from __future__ import annotations

import base64

import pytest
from docker.models.containers import _create_container_args
from docker.types import Mount

from tidegate.executors.container_spec import (
    MANAGED_LABEL,
    ContainerRun,
    ContainerSpecError,
    parse_memory,
    registry_auth,
    to_container_spec,
)
from tidegate.executors.docker import to_container_spec as reexported

IMAGE = "127.0.0.1:5904/acme/web@sha256:" + "a" * 64


def test_minimal_run() -> None:
    assert to_container_spec(ContainerRun(IMAGE)) == {
        "image": IMAGE,
        "command": None,
        "labels": {MANAGED_LABEL: "1"},
        "auto_remove": False,
        "detach": True,
        "stdin_open": False,
        "tty": False,
        "network_mode": "none",
    }


def test_every_field() -> None:
    run = ContainerRun(
        IMAGE,
        command=["/app/selftest", "--fast"],
        entrypoint=["/bin/sh", "-c"],
        env={"APP_ENV": "ci", "EMPTY": ""},
        workdir="/work",
        user="1000:1000",
        network="host",
        memory="512m",
        cpus=1.5,
        pids=64,
        pull="always",
        mounts={"/srv/runs/42/workspace": "/workspace"},
        labels={"tidegate.run": "r1", "tidegate.job": "smoke", "tidegate.step": "0"},
        name="tidegate-r1-smoke-0",
        timeout=300,
        init=True,
    )
    assert to_container_spec(run) == {
        "image": IMAGE,
        "command": ["/app/selftest", "--fast"],
        "entrypoint": ["/bin/sh", "-c"],
        "environment": {"APP_ENV": "ci", "EMPTY": ""},
        "working_dir": "/work",
        "user": "1000:1000",
        "network_mode": "host",
        "mem_limit": 512 * 1024 * 1024,
        "nano_cpus": 1_500_000_000,
        "pids_limit": 64,
        "mounts": [Mount("/workspace", "/srv/runs/42/workspace", type="bind", read_only=False)],
        "labels": {
            "tidegate.run": "r1",
            "tidegate.job": "smoke",
            "tidegate.step": "0",
            MANAGED_LABEL: "1",
        },
        "name": "tidegate-r1-smoke-0",
        "init": True,
        "auto_remove": False,
        "detach": True,
        "stdin_open": False,
        "tty": False,
    }


def test_the_sdk_accepts_every_argument() -> None:
    # containers.create() splits these into the create call and the host config, and
    # raises TypeError on a name it does not know.
    run = ContainerRun(
        IMAGE,
        command=["true"],
        entrypoint=["/bin/sh"],
        env={"A": "b"},
        workdir="/",
        user="1",
        memory=64 * 1024 * 1024,
        cpus=0.5,
        pids=10,
        mounts={"/tmp": "/host-tmp"},
        name="x",
        init=True,
    )
    args = _create_container_args({**to_container_spec(run), "version": "1.41"})
    host = args["host_config"]
    assert host["NetworkMode"] == "none"
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 10
    assert host["Init"] is True
    assert host["Mounts"][0]["Source"] == "/tmp"
    assert "AutoRemove" not in host or host["AutoRemove"] is False
    assert args["labels"][MANAGED_LABEL] == "1"


def test_default_network_is_the_executors() -> None:
    assert to_container_spec(ContainerRun(IMAGE))["network_mode"] == "none"
    assert to_container_spec(ContainerRun(IMAGE), default_network="host")["network_mode"] == "host"
    spec = to_container_spec(ContainerRun(IMAGE, network="none"), default_network="host")
    assert spec["network_mode"] == "none"


def test_named_network_with_aliases() -> None:
    assert to_container_spec(ContainerRun(IMAGE, network="ci-net"))["network_mode"] == "ci-net"
    spec = to_container_spec(ContainerRun(IMAGE, network="ci-net", aliases=["db"]))
    assert spec["network"] == "ci-net"
    assert spec["networking_config"] == {"ci-net": {"Aliases": ["db"]}}
    assert "network_mode" not in spec
    args = _create_container_args({**spec, "version": "1.41"})
    assert args["networking_config"] == {"EndpointsConfig": {"ci-net": {"Aliases": ["db"]}}}


def test_callers_cannot_unmark_a_container() -> None:
    spec = to_container_spec(ContainerRun(IMAGE, labels={MANAGED_LABEL: "0", "x": "y"}))
    assert spec["labels"] == {MANAGED_LABEL: "1", "x": "y"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1048576, 1048576),
        ("1048576", 1048576),
        ("100b", 100),
        ("64k", 64 * 1024),
        ("512m", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("512mb", 512 * 1024**2),
        ("1g", 1024**3),
        ("1.5g", 3 * 1024**3 // 2),
    ],
)
def test_memory_sizes(value: int | str, expected: int) -> None:
    assert parse_memory(value) == expected


@pytest.mark.parametrize(
    ("run", "field", "words"),
    [
        (ContainerRun(""), "image", "image"),
        (ContainerRun("acme/web latest"), "image", "image"),
        (ContainerRun(IMAGE, pull="sometimes"), "pull", "always, missing or never"),
        (ContainerRun(IMAGE, workdir="work"), "workdir", "absolute"),
        (ContainerRun(IMAGE, user=""), "user", "user"),
        (ContainerRun(IMAGE, user="a b"), "user", "user"),
        (ContainerRun(IMAGE, memory="lots"), "memory", "512m"),
        (ContainerRun(IMAGE, memory=0), "memory", "more than 0"),
        (ContainerRun(IMAGE, memory="0m"), "memory", "more than 0"),
        (ContainerRun(IMAGE, cpus=0), "cpus", "more than 0"),
        (ContainerRun(IMAGE, cpus=-1.0), "cpus", "more than 0"),
        (ContainerRun(IMAGE, pids=0), "pids", "above 0"),
        (ContainerRun(IMAGE, mounts={"ws": "/ws"}), "mounts", "host path must be absolute"),
        (ContainerRun(IMAGE, mounts={"/ws": "ws"}), "mounts", "container path"),
        (ContainerRun(IMAGE, name="bad name"), "name", "letters, digits"),
        (ContainerRun(IMAGE, network="container:abc"), "network", "none, host or"),
        (ContainerRun(IMAGE, network="host", aliases=["db"]), "aliases", "named network"),
        (ContainerRun(IMAGE, network="net", aliases=["no way"]), "aliases", "host name"),
        (ContainerRun(IMAGE, env={"A=B": "c"}), "env", "A=B"),
        (ContainerRun(IMAGE, env={"": "c"}), "env", "not valid"),
        (ContainerRun(IMAGE, command=["a\0b"]), "command", "NUL"),
        (ContainerRun(IMAGE, timeout=0), "timeout", "more than 0"),
    ],
)
def test_invalid_runs_name_the_field(run: ContainerRun, field: str, words: str) -> None:
    with pytest.raises(ContainerSpecError) as caught:
        to_container_spec(run)
    assert caught.value.field == field
    assert words in caught.value.message


def test_pull_policies() -> None:
    assert ContainerRun(IMAGE).pull_policy == "missing"
    assert ContainerRun(IMAGE, pull="if-missing").pull_policy == "missing"
    assert ContainerRun(IMAGE, pull="always").pull_policy == "always"
    assert ContainerRun(IMAGE, pull="never").pull_policy == "never"


def test_registry_auth_from_config_json_entries() -> None:
    encoded = base64.b64encode(b"alice:pa:ss").decode()
    assert registry_auth({"auth": encoded}) == {"username": "alice", "password": "pa:ss"}
    assert registry_auth({"username": "bob", "password": "pw", "serveraddress": "r:5000"}) == {
        "username": "bob",
        "password": "pw",
        "serveraddress": "r:5000",
    }
    assert registry_auth({"identitytoken": "tok"}) == {"identitytoken": "tok"}
    for bad in ({"auth": "!!!"}, {"auth": base64.b64encode(b"nocolon").decode()}, {}):
        with pytest.raises(ContainerSpecError):
            registry_auth(bad)


def test_docker_module_reexports_the_pure_translation() -> None:
    assert reexported is to_container_spec
