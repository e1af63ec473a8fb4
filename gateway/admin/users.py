"""``/api/admin/users``: list, create, change the profile of and disable user accounts (admin
role, by policy)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from gateway.auth.models import User
from gateway.auth.passwords import passwords_for
from gateway.auth.roles import Role
from gateway.auth.users import create_user, disable_user, list_users, set_profile
from gateway.deps import (
    CurrentPrincipal,
    SessionDep,
    SettingsDep,
    WriteSessionDep,
    record_action,
)

router = APIRouter(prefix="/api/admin/users", tags=["admin"])


class UserOut(BaseModel):
    username: str
    role: Role
    display_name: str
    practice_code: str
    disabled: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(username=user.username, role=Role(user.role), display_name=user.display_name,
                   practice_code=user.practice_code, disabled=user.disabled,
                   created_at=user.created_at)


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: Role
    password: str | None = Field(
        None, max_length=1024, description="None: the user logs in through OIDC only."
    )
    display_name: str = Field("", max_length=200, description="Name printed on signed reports.")
    practice_code: str = Field("", max_length=30,
                               description="Practising-certificate code (CCHN) for claims.")


class ProfileChange(BaseModel):
    display_name: str | None = Field(None, max_length=200)
    practice_code: str | None = Field(None, max_length=30)


@router.get("", response_model=list[UserOut])
def get_users(session: SessionDep) -> list[UserOut]:
    with session.begin():
        return [UserOut.of(u) for u in list_users(session)]


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
                               min_length=settings.auth.min_password_length,
                               display_name=body.display_name,
                               practice_code=body.practice_code)
        except ValueError as exc:
            status = 409 if "already exists" in str(exc) else 422
            raise HTTPException(status, str(exc)) from exc
        record_action(session, principal, "user.create", detail=f"{user.username} as {user.role}")
        return UserOut.of(user)


@router.patch("/{username}", response_model=UserOut)
def patch_profile(username: str, body: ProfileChange, principal: CurrentPrincipal,
                  session: WriteSessionDep) -> UserOut:
    """Change a user's display name and/or practising-certificate code. 404 if there is no
    such user, 422 for an unusable value. Reports already signed keep their values."""
    with session.begin():
        try:
            user = set_profile(session, username, display_name=body.display_name,
                               practice_code=body.practice_code)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        if user is None:
            raise HTTPException(404, "no such user")
        record_action(session, principal, "user.profile", detail=user.username)
        return UserOut.of(user)


@router.post("/{username}/disable", status_code=204)
def post_disable(username: str, principal: CurrentPrincipal, session: WriteSessionDep) -> None:
    """Disable a user and end its sessions at once. 404 if there is no such user."""
    with session.begin():
        if not disable_user(session, username):
            raise HTTPException(404, "no such user")
        record_action(session, principal, "user.disable", detail=username[:64])
