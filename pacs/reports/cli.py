"""`lienthong reports archive`: store signed reports whose archive copy is still missing
(e.g. the disk was full when they were signed)."""

from __future__ import annotations

import argparse
import sys

from lienthong.settings import Settings


def cmd_reports_archive(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: every `lienthong` command registers this one, and the archive pulls in
    # pydicom and the migrations (~0.5 s of start-up for e.g. `claims validate`).
    from lienthong.migrate import upgrade
    from pacs.archive import open_archive
    from pacs.errors import PacsError
    from pacs.reports.archive import archive_signed_report
    from pacs.reports.service import unarchived_signed_reports

    upgrade(settings.effective_database_url)
    archive = open_archive(settings)
    failed = 0
    try:
        with archive.sessions() as session:
            pending = [r.id for r in unarchived_signed_reports(session)]
        for report_id in pending:
            try:
                uid = archive_signed_report(archive, report_id)
                print(f"report {report_id}: stored as {uid}")
            except PacsError as exc:
                failed += 1
                print(f"report {report_id}: not stored ({exc.reason})", file=sys.stderr)
    finally:
        archive.close()
    print(f"{len(pending) - failed} of {len(pending)} signed report(s) stored")
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reports = subparsers.add_parser("reports", help="radiology reports")
    sub = reports.add_subparsers(dest="reports_command", required=True)
    archive = sub.add_parser("archive", help="store signed reports missing from the archive")
    archive.set_defaults(func=cmd_reports_archive)
