"""`/api/v1/hooks`: webhook endpoints (admins create, list and revoke them; the audit
trail records who created and revoked which)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from tidegate.errors import NotFound
from tidegate.events.hooks import create_hook
from tidegate.store import audit, credentials
from tidegate.store.models import Hook
from tidegate.web.auth import Admin
from tidegate.web.schemas import HookCreate, HookCreated, HookOut
from tidegate.web.state import State, in_session

router = APIRouter(prefix="/api/v1/hooks", tags=["hooks"])


@router.post("", status_code=201, response_model=HookCreated)
async def create(body: HookCreate, caller: Admin, state: State) -> HookCreated:
    def query(session: Session) -> HookCreated:
        base_url = state.settings.base_url
        new = create_hook(
            session,
            base_url,
            body.source,
            body.name,
            body.registries,
            actor=caller.user,
            secret=body.secret,
            secret_header=body.secret_header,
        )
        out = HookOut.model_validate(new.row)
        made = new.secret if not body.secret else ""  # what the caller gave is not echoed
        return HookCreated(**out.model_dump(), token=new.token, url=new.url, secret=made)

    return await in_session(state, query)


@router.get("", response_model=list[HookOut])
async def list_hooks(_caller: Admin, state: State) -> list[HookOut]:
    def query(session: Session) -> list[HookOut]:
        return [HookOut.model_validate(h) for h in credentials.list_hooks(session)]

    return await in_session(state, query)


@router.delete("/{hook_id}", response_model=HookOut)
async def revoke(hook_id: str, caller: Admin, state: State) -> HookOut:
    def query(session: Session) -> HookOut:
        found = session.get(Hook, hook_id)
        live = found is not None and found.revoked_at is None
        row = credentials.revoke_hook(session, hook_id)
        if row is None:
            raise NotFound(f"hook {hook_id} does not exist")
        if live:  # revoking it again changes nothing, and records nothing
            audit.record(session, caller.user, "hook.revoke", hook_id, row.name)
        return HookOut.model_validate(row)

    return await in_session(state, query)
