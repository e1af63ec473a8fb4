"""`lienthong audit verify`: walk the audit hash chain and report the first broken row."""

from __future__ import annotations

import argparse
from typing import Any

from lienthong.settings import Settings


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: every `lienthong` command builds the whole parser (see gateway/auth/cli.py).
    from lienthong.audit import verify_chain
    from lienthong.db import make_engine, make_sessionmaker
    from lienthong.migrate import upgrade

    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            report = verify_chain(session)
    finally:
        engine.dispose()
    if report.first_break is None:
        print(f"audit chain OK: {report.rows} rows")
        return 0
    brk = report.first_break
    where = f"row id {brk.event_id}" if brk.event_id is not None else "no row"
    print(f"audit chain BROKEN at seq {brk.seq} ({where}): {brk.reason}")
    return 1


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit", required=True)
    verify = audit.add_parser("verify", help="check the hash chain (exit 1 if broken)")
    verify.set_defaults(func=cmd_audit_verify)
