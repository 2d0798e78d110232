"""CEL conditions and `${{ }}` templates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from celpy import celtypes

from tidegate.errors import ExpressionError
from tidegate.image_event import ImageEvent
from tidegate.workflows import (
    compile_condition,
    compile_template,
    event_context,
    template_names,
    to_cel,
)

EVENT = ImageEvent(
    source="dockerhub",
    delivery_id="d1",
    registry="docker.io",
    repository="acme/web",
    tag="v1.2.3",
    pusher="alice",
    pushed_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    raw={"secret": "not exposed"},
)

CTX: dict[str, object] = {
    "event": event_context(EVENT),
    "run": {"id": "r1", "status": "failed", "url": "http://x/runs/r1", "workflow": "web"},
    "jobs": {"smoke": {"status": "succeeded"}, "deploy": {"status": "skipped"}},
    "env": {"APP_ENV": "ci", "COUNT": 3},
    "secrets": {"SLACK_URL": "https://hooks.slack.test/T0/B0/xyz"},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('event.tag.startsWith("v")', True),
        ('event.tag.startsWith("x")', False),
        ('jobs.smoke.status == "succeeded"', True),
        ('run.status in ["failed", "timed_out"]', True),
        ('event.repository.matches("^acme/")', True),
        ("size(event.tag) > 3 && env.COUNT == 3", True),
        ('jobs.exists(j, jobs[j].status == "skipped")', True),
        ("has(secrets.SLACK_URL) && !has(secrets.OTHER)", True),
        ("true", True),
        ('${{ event.pusher == "alice" }}', True),
    ],
)
def test_condition(source: str, expected: bool) -> None:
    assert compile_condition(source).evaluate(CTX) is expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('event.tag.startsWith("v"', "unexpected end of expression at column 25"),
        ("event.tag ~ 1", "unexpected character '~' at column 11"),
        ("event tag", "unexpected 'tag' at column 7"),
        ("", "empty expression"),
        ('evnt.tag == "v"', "unknown name 'evnt'"),
    ],
)
def test_condition_compile_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(")):
        compile_condition(source)


def test_condition_must_give_a_bool() -> None:
    with pytest.raises(ExpressionError, match="must give a bool, not a string value"):
        compile_condition("event.tag").evaluate(CTX)


def test_missing_key_is_named() -> None:
    with pytest.raises(ExpressionError, match=r"jobs\.integration is not defined"):
        compile_condition('jobs.integration.status == "succeeded"').evaluate(CTX)
    with pytest.raises(ExpressionError, match="secrets is not defined"):
        compile_template("${{ secrets.SLACK_URL }}").render({"event": {}})


def test_errors_never_quote_secret_values() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_condition("int(secrets.SLACK_URL) > 1").evaluate(CTX)
    assert "hooks.slack" not in str(info.value)


def test_macro_variables_are_not_context_names() -> None:
    condition = compile_condition("[1, 2].all(x, x > 0) && [3].exists(y, y == 3)")
    assert condition.names == frozenset()
    assert condition.evaluate({}) is True


def test_compiling_is_cached() -> None:
    source = "run.status == 'failed'"
    assert compile_condition(source) is compile_condition(source)
    assert compile_template("${{ event.tag }}") is compile_template("${{ event.tag }}")


def test_template_render() -> None:
    template = compile_template(
        "img=${{ event.image }} tag=${{event.tag}} n=${{ env.COUNT }} "
        'v=${{ event.tag.startsWith("v") }} len=${{ size(event.tag) }} '
        "l=${{ [1, 'a'] }} m=${{ {'k': true} }} d=${{ 1.5 }}"
    )
    assert template.render(CTX) == (
        'img=docker.io/acme/web:v1.2.3 tag=v1.2.3 n=3 v=true len=6 l=[1,"a"] m={"k":true} d=1.5'
    )


def test_static_template_renders_as_is() -> None:
    template = compile_template("plain $HOME {{ not ours }}")
    assert template.is_static
    assert template.render({}) == "plain $HOME {{ not ours }}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x-${{ event.tag", "unterminated"),
        ("${{ }}", "empty expression"),
        ("a ${{ evnt.tag }} b", r"unknown name 'evnt' in '\$\{\{ evnt.tag \}\}'"),
        ("${{ event.tag + }}", "invalid expression"),
    ],
)
def test_template_compile_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        compile_template(source)


def test_template_names() -> None:
    assert template_names(
        "${{ secrets.SLACK_URL }}/${{ event.tag }}-${{ secrets['TOKEN'] }}-${{ jobs.a.status }}"
    ) == {"secrets.SLACK_URL", "event.tag", "secrets.TOKEN", "jobs.a.status"}
    assert template_names("no expressions") == frozenset()


def test_event_context_is_strings_plus_image() -> None:
    ctx = event_context(EVENT)
    assert ctx["image"] == "docker.io/acme/web:v1.2.3"
    assert ctx["pushed_at"] == "2024-05-01T12:00:00+00:00"
    assert ctx["received_at"] == ""
    assert "raw" not in ctx
    assert all(isinstance(v, str) for v in ctx.values())


def test_to_cel() -> None:
    value = to_cel({"a": [1, True, "x", 1.5, None], "b": {"c": False}})
    assert isinstance(value, celtypes.MapType)
    items = value[celtypes.StringType("a")]
    assert isinstance(items, celtypes.ListType)
    assert isinstance(items[0], celtypes.IntType)
    assert isinstance(items[1], celtypes.BoolType)
    assert isinstance(items[2], celtypes.StringType)
    assert isinstance(items[3], celtypes.DoubleType)
    assert items[4] is None
    assert to_cel(celtypes.BoolType(True)) == celtypes.BoolType(True)
    with pytest.raises(ExpressionError):
        to_cel(object())
