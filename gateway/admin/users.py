"""``/api/admin/users``: list, create and disable user accounts (admin role, by policy)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from gateway.auth.passwords import passwords_for
from gateway.auth.roles import Role
from gateway.auth.users import create_user, disable_user, list_users
from gateway.deps import CurrentPrincipal, SessionDep, SettingsDep, WriteSessionDep
from lienthong import audit

router = APIRouter(prefix="/api/admin/users", tags=["admin"])


class UserOut(BaseModel):
    username: str
    role: Role
    disabled: bool
    created_at: dt.datetime


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: Role
    password: str | None = Field(
        None, max_length=1024, description="None: the user logs in through OIDC only."
    )


@router.get("", response_model=list[UserOut])
def get_users(session: SessionDep) -> list[UserOut]:
    with session.begin():
        return [UserOut(username=u.username, role=Role(u.role), disabled=u.disabled,
                        created_at=u.created_at) for u in list_users(session)]


@router.post("", response_model=UserOut, status_code=201)
def post_user(
    body: NewUser, request: Request, principal: CurrentPrincipal, session: WriteSessionDep,
    settings: SettingsDep,
) -> UserOut:
    """Create a user. 409 if the name is taken, 422 for a bad name or a weak password."""
    with session.begin():
        try:
            user = create_user(session, body.username, body.role, body.password,
                               passwords=passwords_for(settings.auth),
                               min_length=settings.auth.min_password_length)
        except ValueError as exc:
            status = 409 if "already exists" in str(exc) else 422
            raise HTTPException(status, str(exc)) from exc
        audit.record(session, actor=principal.name, actor_kind=principal.kind,
                     role=principal.role, action="user.create", outcome=audit.Outcome.SUCCESS,
                     address=principal.address, detail=f"{user.username} as {user.role}")
        return UserOut(username=user.username, role=Role(user.role), disabled=user.disabled,
                       created_at=user.created_at)


@router.post("/{username}/disable", status_code=204)
def post_disable(username: str, principal: CurrentPrincipal, session: WriteSessionDep) -> None:
    """Disable a user and end its sessions at once. 404 if there is no such user."""
    with session.begin():
        if not disable_user(session, username):
            raise HTTPException(404, "no such user")
        audit.record(session, actor=principal.name, actor_kind=principal.kind,
                     role=principal.role, action="user.disable", outcome=audit.Outcome.SUCCESS,
                     address=principal.address, detail=username[:64])
