"""The `lienthong` command: parse arguments, build the settings once, call into the packages."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from lienthong.settings import Settings, load_settings

Command = Callable[[argparse.Namespace, Settings], int]

# Packages that add their own subcommands: each module has register(subparsers), and each
# subcommand sets func(args, settings) -> exit code, like the ones below.
COMMAND_MODULES: tuple[str, ...] = (
    "gateway.auth.cli", "lienthong.audit_cli", "claims.cli", "pacs.reports.cli",
)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "http_port", None):
        overrides["http_port"] = args.http_port
    settings = load_settings(args.config, **overrides)
    if getattr(args, "dicom_port", None):
        settings.dicom.port = args.dicom_port
    return settings


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    from lienthong.db import make_engine, make_sessionmaker, writer_engine
    from lienthong.migrate import upgrade

    upgrade(settings.effective_database_url)
    return make_sessionmaker(writer_engine(make_engine(settings.effective_database_url)))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from lienthong.serve import serve

    serve(settings)
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from lienthong.migrate import upgrade

    upgrade(settings.effective_database_url, args.revision)
    print(f"database is at {args.revision}")
    return 0


def cmd_ae_add(args: argparse.Namespace, settings: Settings) -> int:
    from pacs.peers import add_peer

    with _sessions(settings).begin() as session:
        peer = add_peer(session, args.title, args.host, args.port, args.description or "")
    print(f"{peer.ae_title} -> {peer.host}:{peer.port}")
    return 0


def cmd_ae_remove(args: argparse.Namespace, settings: Settings) -> int:
    from pacs.peers import remove_peer

    with _sessions(settings).begin() as session:
        removed = remove_peer(session, args.title)
    if not removed:
        print(f"no such AE title: {args.title}", file=sys.stderr)
        return 1
    print(f"removed {args.title}")
    return 0


def cmd_ae_list(args: argparse.Namespace, settings: Settings) -> int:
    from pacs.peers import list_peers

    with _sessions(settings)() as session:
        peers = list_peers(session)
    if args.json:
        print(json.dumps([p.__dict__ for p in peers], ensure_ascii=False, indent=2))
        return 0
    table = Table("AE title", "host", "port", "description")
    for p in peers:
        table.add_row(p.ae_title, p.host, str(p.port), p.description)
    Console().print(table)
    return 0


def cmd_studies(args: argparse.Namespace, settings: Settings) -> int:
    from pacs.index.summary import list_studies

    with _sessions(settings)() as session:
        studies = list_studies(session, args.limit)
    if args.json:
        print(json.dumps([s.as_dict() for s in studies], ensure_ascii=False, indent=2))
        return 0
    table = Table("patient ID", "patient", "date", "accession", "modalities", "series", "images")
    for s in studies:
        table.add_row(
            s.patient_id,
            s.patient_name.replace("^", " "),
            s.study_date,
            s.accession_number,
            s.modalities.replace("\\", ","),
            str(s.series),
            str(s.instances),
        )
    Console().print(table)
    Console().print(f"{len(studies)} studies")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from lienthong.clock import hospital_today
    from pacs.archive import open_archive
    from pacs.demo import demo_datasets, load_demo

    _sessions(settings)  # migrate
    today = hospital_today()
    total = sum(1 for _ in demo_datasets(today))
    archive = open_archive(settings)
    try:
        with Progress() as progress:
            task = progress.add_task("loading demo studies", total=total)
            stored = load_demo(archive, today, lambda n: progress.advance(task, n))
    finally:
        archive.close()
    print(f"{stored} new instances stored ({total - stored} already present)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lienthong", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--data-dir", type=Path, help="data folder (files, SQLite index)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the DICOM SCP and the HTTP app")
    serve.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS)
    serve.add_argument("--host", help="bind address")
    serve.add_argument("--dicom-port", type=int, help="DICOM port")
    serve.add_argument("--http-port", type=int, help="HTTP port")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="heads")
    up.set_defaults(func=cmd_db_upgrade)

    ae = sub.add_parser("ae", help="known DICOM peers").add_subparsers(dest="ae", required=True)
    add = ae.add_parser("add", help="register (or update) a peer AE title")
    add.add_argument("title")
    add.add_argument("--host", required=True)
    add.add_argument("--port", type=int, required=True)
    add.add_argument("--description")
    add.set_defaults(func=cmd_ae_add)
    rm = ae.add_parser("remove", help="forget a peer")
    rm.add_argument("title")
    rm.set_defaults(func=cmd_ae_remove)
    ls = ae.add_parser("list", help="list peers")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_ae_list)

    studies = sub.add_parser("studies", help="list stored studies")
    studies.add_argument("--json", action="store_true")
    studies.add_argument("--limit", type=int)
    studies.set_defaults(func=cmd_studies)

    demo = sub.add_parser("demo", help="load demo studies")
    demo.set_defaults(func=cmd_demo)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"lienthong: invalid settings: {exc}", file=sys.stderr)
        return 2
    try:
        func: Command = args.func
        return func(args, settings)
    except ValueError as exc:
        print(f"lienthong: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
