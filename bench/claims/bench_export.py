"""Benchmark: export 10,000 episodes × ~20 lines (build + validate + sign + write), then
`claims validate` over the same files; time and peak memory of each.

    .venv/bin/python -m bench.claims.bench_export [EPISODES]
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from claims import synthetic
from claims.codes import load_code_lists
from claims.export import ExportConfig, export_day
from claims.records.store import save_episode
from claims.sign import load_signing_key
from claims.validate.check_file import check_claim_file
from lienthong.db import make_engine, make_sessionmaker, writer_engine
from lienthong.migrate import upgrade
from tests.support.certs import make_pkcs12

DAY = dt.date(2026, 11, 30)


def peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + workers) / 1024  # upper bound: main process + largest worker


def main(count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="claims-bench-"))
    url = f"sqlite:///{work / 'index.sqlite3'}"
    upgrade(url)
    sessions = make_sessionmaker(writer_engine(make_engine(url)))
    t0 = time.perf_counter()
    lines = 0
    for start in range(0, count, 500):
        with sessions.begin() as session:
            for i in range(start, min(count, start + 500)):
                e = synthetic.episode(i, DAY, lines=20)
                lines += sum(len(r) for n, r in e.tables.items() if n in ("XML2", "XML3"))
                save_episode(session, e, "bench")
    seed = time.perf_counter() - t0
    make_pkcs12(work / "c.p12", "bench")
    cfg = ExportConfig("79001", work / "outbox", load_signing_key(work / "c.p12", "bench"),
                       load_code_lists(), workers=os.cpu_count() or 1, key_file=work / "c.p12",
                       key_password="bench")  # noqa: S106 - throwaway benchmark certificate
    before = peak_mb()
    t0 = time.perf_counter()
    report = export_day(sessions, cfg, DAY, dt.date(2026, 12, 1))
    export_s = time.perf_counter() - t0
    export_peak = peak_mb()
    files = sorted((work / "outbox" / DAY.strftime("%Y%m%d")).glob("ep*.xml"))
    codes = load_code_lists()
    t0 = time.perf_counter()
    errors = 0
    for path in files:
        errors += sum(v.severity == "error" for v in check_claim_file(path.read_bytes(), codes))
    validate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for path in files:
        check_claim_file(path.read_bytes(), codes, verify_signature=False)
    validate_nosig_s = time.perf_counter() - t0
    print(f"episodes {count}, cost lines {lines} ({lines / count:.1f}/episode); seed {seed:.1f} s")
    print(f"export: {report.written} written, {report.refused} refused in {export_s:.1f} s "
          f"({count / export_s:.0f} episodes/s); peak RSS {export_peak:.0f} MB "
          f"(before export {before:.0f} MB)")
    print(f"validate (XSD + rules + signature): {validate_s:.1f} s, {errors} errors; "
          f"without signature check {validate_nosig_s:.1f} s")
    print(f"export / validate ratio: {export_s / validate_s:.2f}x "
          f"({export_s / validate_nosig_s:.2f}x without signature check)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
