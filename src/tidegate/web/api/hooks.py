"""`/api/v1/hooks`: webhook endpoints (admins create, list and revoke them; the audit
trail records who created and revoked which)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends

from tidegate.errors import NotFound
from tidegate.events.sources import SOURCES
from tidegate.security.tokens import new_token
from tidegate.store import audit, credentials
from tidegate.store.models import Hook
from tidegate.web.auth import Admin
from tidegate.web.schemas import HookCreate, HookCreated, HookOut
from tidegate.web.state import AppState, app_state

router = APIRouter(prefix="/api/v1/hooks", tags=["hooks"])
State = Annotated[AppState, Depends(app_state)]


def hook_url(base_url: str, source: str, token: str) -> str:
    return f"{base_url}/hooks/{source}/{token}"


def create_hook(
    state: AppState, source: str, name: str, registries: Sequence[str] = (), actor: str = ""
) -> HookCreated:
    """Create a hook; its token is in the answer once and stored only as a hash.
    `registries` binds a `registry` hook to the registries it serves; `actor` is who the
    audit trail names."""
    if source not in SOURCES:
        raise NotFound(f"unknown source {source!r}; known: {', '.join(sorted(SOURCES))}")
    token = new_token("tgh_")
    with state.db.session() as session:
        row = credentials.create_hook(session, source, name or source, token, registries)
        bound = f" for {', '.join(row.registries)}" if row.registries else ""
        audit.record(session, actor, "hook.create", row.id, f"{row.source} {row.name!r}{bound}")
        out = HookOut.model_validate(row)
    return HookCreated(
        **out.model_dump(), token=token, url=hook_url(state.settings.base_url, source, token)
    )


@router.post("", status_code=201, response_model=HookCreated)
async def create(body: HookCreate, caller: Admin, state: State) -> HookCreated:
    return await asyncio.to_thread(
        create_hook, state, body.source, body.name, body.registries, caller.user
    )


@router.get("", response_model=list[HookOut])
async def list_hooks(_caller: Admin, state: State) -> list[HookOut]:
    def query() -> list[HookOut]:
        with state.db.session() as session:
            return [HookOut.model_validate(h) for h in credentials.list_hooks(session)]

    return await asyncio.to_thread(query)


@router.delete("/{hook_id}", response_model=HookOut)
async def revoke(hook_id: str, caller: Admin, state: State) -> HookOut:
    def query() -> HookOut:
        with state.db.session() as session:
            found = session.get(Hook, hook_id)
            live = found is not None and found.revoked_at is None
            row = credentials.revoke_hook(session, hook_id)
            if row is None:
                raise NotFound(f"hook {hook_id} does not exist")
            if live:  # revoking it again changes nothing, and records nothing
                audit.record(session, caller.user, "hook.revoke", hook_id, row.name)
            return HookOut.model_validate(row)

    return await asyncio.to_thread(query)
