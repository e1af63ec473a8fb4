"""`lienthong users ...` and `lienthong apikeys ...`: accounts and API keys from the shell."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from gateway.auth.roles import Role, Scope
from lienthong.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

# The account modules (and SQLAlchemy with them) are imported by the commands that use them:
# every `lienthong` command builds the whole parser, and `lienthong claims validate` should
# not pay for them at start-up.


def _sessions(settings: Settings) -> sessionmaker[Session]:
    from lienthong.db import make_engine, make_sessionmaker, writer_engine
    from lienthong.migrate import upgrade

    upgrade(settings.effective_database_url)
    return make_sessionmaker(writer_engine(make_engine(settings.effective_database_url)))


def read_password() -> str:
    """The new password: prompted twice without echo on a terminal, else one line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth.passwords import passwords_for
    from gateway.auth.users import create_user

    password = None if args.no_password else read_password()
    with _sessions(settings).begin() as session:
        user = create_user(session, args.name, args.role, password,
                           passwords=passwords_for(settings.auth),
                           min_length=settings.auth.min_password_length,
                           display_name=args.display_name or "",
                           practice_code=args.practice_code or "")
    print(f"user {user.username} ({user.role}) created")
    return 0


def cmd_users_profile(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth.users import set_profile

    with _sessions(settings).begin() as session:
        user = set_profile(session, args.name, display_name=args.display_name,
                           practice_code=args.practice_code)
    if user is None:
        print(f"no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"user {user.username}: profile updated")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth.users import list_users

    with _sessions(settings)() as session:
        rows: list[dict[str, Any]] = [
            {"username": u.username, "role": u.role, "disabled": u.disabled,
             "display_name": u.display_name, "practice_code": u.practice_code,
             "created_at": u.created_at.isoformat()}
            for u in list_users(session)
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table("user", "role", "name", "CCHN", "disabled", "created")
    for row in rows:
        table.add_row(row["username"], row["role"], row["display_name"], row["practice_code"],
                      "yes" if row["disabled"] else "", row["created_at"][:19])
    Console().print(table)
    return 0


def cmd_users_disable(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth.users import disable_user

    with _sessions(settings).begin() as session:
        found = disable_user(session, args.name)
    if not found:
        print(f"no such user: {args.name}", file=sys.stderr)
        return 1
    print(f"user {args.name} disabled; its sessions are ended")
    return 0


def cmd_users_mfa(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth.mfa import enroll
    from gateway.auth.secrets import load_secret_key
    from gateway.auth.users import find_user

    key = load_secret_key(settings)
    with _sessions(settings).begin() as session:
        user = find_user(session, args.name)
        if user is None:
            print(f"no such user: {args.name}", file=sys.stderr)
            return 1
        uri = enroll(user, key)
    print(uri)
    print(f"second factor enrolled for {args.name}: add the URI above to an authenticator "
          "app (it is shown only once); logins now need its code", file=sys.stderr)
    return 0


def cmd_apikeys_add(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth.apikeys import create_api_key
    from gateway.auth.secrets import load_secret_key

    key = load_secret_key(settings)
    with _sessions(settings).begin() as session:
        row, plaintext = create_api_key(session, key, args.name, args.scope)
    print(plaintext)
    print(f"API key {row.name} ({row.scopes}) created; the key above is shown only once",
          file=sys.stderr)
    return 0


def cmd_apikeys_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth.apikeys import list_api_keys

    with _sessions(settings)() as session:
        rows: list[dict[str, Any]] = [
            {"name": k.name, "prefix": k.key_prefix, "scopes": k.scopes.split(),
             "created_at": k.created_at.isoformat(),
             "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
            for k in list_api_keys(session)
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table("name", "key starts", "scopes", "created", "revoked")
    for row in rows:
        table.add_row(row["name"], row["prefix"] + "…", " ".join(row["scopes"]),
                      row["created_at"][:19], (row["revoked_at"] or "")[:19])
    Console().print(table)
    return 0


def cmd_apikeys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth.apikeys import revoke_api_key

    with _sessions(settings).begin() as session:
        found = revoke_api_key(session, args.name)
    if not found:
        print(f"no such API key: {args.name}", file=sys.stderr)
        return 1
    print(f"API key {args.name} revoked")
    return 0


def _profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--display-name", help="the name printed on signed reports")
    parser.add_argument("--practice-code",
                        help="practising-certificate code (CCHN), used in insurance claims")


def register(sub: Any) -> None:
    users = sub.add_parser("users", help="user accounts").add_subparsers(dest="users",
                                                                           required=True)
    add = users.add_parser("add", help="create a user (password from stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--no-password", action="store_true",
                     help="no local password (the user logs in through OIDC)")
    _profile_options(add)
    add.set_defaults(func=cmd_users_add)
    prof = users.add_parser("profile", help="set a user's display name / practising code")
    prof.add_argument("name")
    _profile_options(prof)
    prof.set_defaults(func=cmd_users_profile)
    ls = users.add_parser("list", help="list users")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_users_list)
    mfa = users.add_parser("mfa", help="enrol (or replace) a TOTP second factor")
    mfa.add_argument("name")
    mfa.set_defaults(func=cmd_users_mfa)
    dis = users.add_parser("disable", help="disable a user and end its sessions")
    dis.add_argument("name")
    dis.set_defaults(func=cmd_users_disable)

    keys = sub.add_parser("apikeys", help="API keys for systems").add_subparsers(
        dest="apikeys", required=True)
    kadd = keys.add_parser("add", help="create an API key (printed once)")
    kadd.add_argument("name")
    kadd.add_argument("--scope", action="append", required=True,
                      choices=[s.value for s in Scope])
    kadd.set_defaults(func=cmd_apikeys_add)
    kls = keys.add_parser("list", help="list API keys (never the keys themselves)")
    kls.add_argument("--json", action="store_true")
    kls.set_defaults(func=cmd_apikeys_list)
    krv = keys.add_parser("revoke", help="revoke an API key")
    krv.add_argument("name")
    krv.set_defaults(func=cmd_apikeys_revoke)
