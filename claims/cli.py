"""``lienthong claims …``: import records, export the day's signed files, validate any file."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from rich.progress import Progress

from lienthong.settings import Settings


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    from lienthong.db import make_engine, make_sessionmaker, writer_engine
    from lienthong.migrate import upgrade

    upgrade(settings.effective_database_url)
    return make_sessionmaker(writer_engine(make_engine(settings.effective_database_url)))


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from claims.codes import load_code_lists
    from claims.errors import EpisodeLocked, RecordInvalid
    from claims.records.importers import import_file

    codes = load_code_lists(settings.claims.code_list_dir)
    sessions = _sessions(settings)
    try:
        with sessions.begin() as session:
            results = import_file(session, args.file, codes)
    except RecordInvalid as exc:
        if args.json:
            print(json.dumps([p.as_dict() for p in exc.problems], ensure_ascii=False, indent=1))
        else:
            for p in exc.problems:
                print(p.line(), file=sys.stderr)
        print(f"refused: {len(exc.problems)} problem(s); nothing was imported", file=sys.stderr)
        return 1
    except EpisodeLocked as exc:
        print(f"refused: {exc}; nothing was imported", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.ma_lk}: {r.rows} rows" + (f", {len(r.warnings)} warning(s)"
                                              if r.warnings else ""))
    print(f"imported {len(results)} episode(s)")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from claims.codes import load_code_lists
    from claims.errors import SigningUnavailable
    from claims.export import ExportConfig, export_day
    from claims.sign import load_signing_key

    if not settings.claims.facility_code:
        print("claims.facility_code is not set", file=sys.stderr)
        return 2
    password = settings.claims.certificate_password
    try:
        key = load_signing_key(settings.claims.certificate_path,
                               password.get_secret_value() if password else None)
    except SigningUnavailable as exc:
        print(f"cannot sign: {exc}", file=sys.stderr)
        return 2
    cfg = ExportConfig(settings.claims.facility_code, settings.claims_outbox_dir, key,
                       load_code_lists(settings.claims.code_list_dir),
                       settings.claims.machine_codes, settings.claims.technologist_codes,
                       workers=settings.claims.export_workers or (os.cpu_count() or 1),
                       key_file=settings.claims.certificate_path,
                       key_password=password.get_secret_value() if password else None)
    sessions = _sessions(settings)
    with Progress(disable=args.quiet) as progress:
        task = progress.add_task(f"claims {args.date}", total=None)

        def advance(n: int, total: int) -> None:
            progress.update(task, total=total, advance=n)

        report = export_day(sessions, cfg, args.date, dt.date.today(), advance)
    for v in report.violations:
        print(v.line(), file=sys.stderr)
    print(f"{args.date}: {report.written} written, {report.unchanged} unchanged, "
          f"{report.refused} refused, {report.skipped} not exported; manifest {report.manifest}")
    return 1 if report.refused else 0


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from claims.codes import load_code_lists
    from claims.validate.batch import check_paths, claim_files

    codes = load_code_lists(settings.claims.code_list_dir)
    failed = 0
    files = claim_files(args.files)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    for result in check_paths(files, codes, verify_signature=not args.no_signature,
                              workers=workers):
        path, found = result.path, result.violations
        if result.refused:
            print(f"{path}: refused: {result.refused}", file=sys.stderr)
            failed += 1
            continue
        errors = result.errors
        if args.json:
            print(json.dumps({"file": str(path), "violations": [v.as_dict() for v in found]},
                             ensure_ascii=False))
        elif not args.quiet or errors:
            for v in found:
                print(f"{path}: {v.line()}")
            print(f"{path}: {len(errors)} error(s), {len(found) - len(errors)} warning(s)")
        failed += bool(errors)
    return 1 if failed else 0


def cmd_checkin(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from claims.checkin import checkin_document, send_checkin
    from claims.errors import RuleViolations
    from claims.records.models import ClaimEpisode
    from claims.records.store import load_episodes, to_record
    from claims.sign import load_signing_key

    with _sessions(settings)() as session:
        ids = session.scalars(select(ClaimEpisode.id).where(ClaimEpisode.ma_lk == args.ma_lk)
                              ).all()
        episodes = [to_record(e) for e in load_episodes(session, list(ids))]
    if not episodes:
        print(f"no episode {args.ma_lk}", file=sys.stderr)
        return 1
    c = settings.claims
    key = None if args.unsigned else load_signing_key(
        c.certificate_path,
        c.certificate_password.get_secret_value() if c.certificate_password else None)
    try:
        if not args.send:
            sys.stdout.buffer.write(checkin_document(episodes, key))
            return 0
        assert key is not None  # --send and --unsigned exclude each other
        receipt = send_checkin(_portal(settings), episodes, key)
    except RuleViolations as exc:
        for v in exc.violations:
            print(f"XML0 {v}", file=sys.stderr)
        return 1
    if not receipt.received:
        print(f"refused by the portal: {receipt.ma_ket_qua} {receipt.thong_diep}",
              file=sys.stderr)
        return 1
    print(f"{args.ma_lk}: checked in, transaction {receipt.ma_giao_dich} at "
          f"{receipt.thoi_gian_tiep_nhan}")
    return 0


def _portal(settings: Settings):  # type: ignore[no-untyped-def]
    from claims.portal.http import HttpPortalClient

    c = settings.claims
    if not (c.portal_url and c.portal_username and c.portal_password and c.facility_code):
        raise ValueError("claims.portal_url, portal_username, portal_password and "
                         "facility_code must be set to talk to the portal")
    return HttpPortalClient(c.portal_url, c.portal_username,
                            c.portal_password.get_secret_value(), c.facility_code)


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    from claims.portal.submit import refresh_acknowledgements, submit_day

    client = _portal(settings)
    sessions = _sessions(settings)
    report = submit_day(sessions, client, settings.claims_outbox_dir, args.date)
    changed = refresh_acknowledgements(sessions, client)
    print(f"{args.date}: {report.submitted} submitted, {report.refused} refused by the portal, "
          f"{report.deferred} waiting for an earlier version, {changed} acknowledgement(s)")
    for lk in report.uncertain:
        print(f"UNCERTAIN {lk}: may have been received; check the portal, then "
              f"`lienthong claims requeue {lk}` if it was not", file=sys.stderr)
    if report.stopped:
        print(f"stopped: {report.stopped}", file=sys.stderr)
    return 1 if report.stopped or report.uncertain else 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from claims.records.models import ClaimEpisode, ClaimExport

    with _sessions(settings)() as session:
        rows = session.execute(
            select(ClaimEpisode.ma_lk, ClaimExport.version, ClaimExport.status,
                   ClaimExport.portal_transaction, ClaimExport.portal_message)
            .join(ClaimExport).where(ClaimEpisode.closed_on == args.date)
            .order_by(ClaimEpisode.id, ClaimExport.version)).all()
    for lk, version, status, tx, message in rows:
        print(f"{lk}\tv{version}\t{status}\t{tx}\t{message}")
    return 0


def cmd_requeue(args: argparse.Namespace, settings: Settings) -> int:
    from claims.portal.submit import requeue

    with _sessions(settings).begin() as session:
        done = requeue(session, args.ma_lk)
    print(f"{args.ma_lk}: " + ("queued again" if done else "nothing uncertain to re-queue"))
    return 0 if done else 1


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from exc


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    claims = subparsers.add_parser("claims", help="QĐ 130 insurance claims")
    sub = claims.add_subparsers(dest="claims", required=True)
    imp = sub.add_parser("import", help="import episodes from JSON, a CSV folder or QĐ 130 XML")
    imp.add_argument("file", type=Path)
    imp.add_argument("--json", action="store_true", help="problems as JSON")
    imp.set_defaults(func=cmd_import)
    exp = sub.add_parser("export", help="build, validate, sign and write a day's claim files")
    exp.add_argument("--date", type=_date, required=True, help="day the episodes closed")
    exp.add_argument("--quiet", action="store_true", help="no progress bar")
    exp.set_defaults(func=cmd_export)
    val = sub.add_parser("validate", help="check QĐ 130 claim files and print the violations")
    val.add_argument("files", type=Path, nargs="+",
                     help="claim files, or folders whose *.xml files are checked")
    val.add_argument("--workers", type=int, default=None,
                     help="worker processes for many files (default: one per CPU)")
    val.add_argument("--json", action="store_true")
    val.add_argument("--quiet", action="store_true", help="only print files with errors")
    val.add_argument("--no-signature", action="store_true", help="skip signature verification")
    val.set_defaults(func=cmd_validate)
    sub_ = sub.add_parser("submit", help="send the day's written files to the portal, "
                          "then fetch acknowledgements")
    sub_.add_argument("--date", type=_date, required=True)
    sub_.set_defaults(func=cmd_submit)
    st = sub.add_parser("status", help="files and portal states of a day's episodes")
    st.add_argument("--date", type=_date, required=True)
    st.set_defaults(func=cmd_status)
    rq = sub.add_parser("requeue", help="re-queue an UNCERTAIN file after checking the portal")
    rq.add_argument("ma_lk")
    rq.set_defaults(func=cmd_requeue)
    chk = sub.add_parser("checkin", help="the signed check-in document (XML0) of an episode: "
                         "printed, or sent to the portal with --send")
    chk.add_argument("ma_lk")
    mode = chk.add_mutually_exclusive_group()
    mode.add_argument("--send", action="store_true", help="send it to the portal")
    mode.add_argument("--unsigned", action="store_true",
                      help="print it without signing (to inspect it)")
    chk.set_defaults(func=cmd_checkin)

