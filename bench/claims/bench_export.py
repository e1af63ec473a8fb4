"""Benchmark: export 10,000 episodes × ~20 lines (build + validate + sign + write), then
`lienthong claims validate` over the same folder; time and peak memory of each.

    .venv/bin/python -m bench.claims.bench_export [EPISODES]
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DAY = dt.date(2026, 11, 30)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found


class TreePeak(threading.Thread):
    """Peak of (RSS of this process + RSS of its children), sampled every 50 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self.done.wait(0.05):
            self.peak = max(self.peak, _rss_mb(me) + sum(_rss_mb(c) for c in _children(me)))

    def stop(self) -> float:
        self.done.set()
        self.join()
        return self.peak


def peak_mb() -> float:
    """Peak RSS of this process in MB (a child's ru_maxrss would count the parent's pages it
    shared between fork and exec, so the workers are sampled instead: TreePeak)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds (user + system) of this process and of its children that ended."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def validate_cli(folder: Path, *extra: str) -> tuple[float, float, int]:
    """Wall time and CPU time of ``lienthong claims validate --quiet FOLDER``, exit code."""
    c0, t0 = cpu_s(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lienthong.cli", "claims", "validate",
                           "--quiet", *extra, str(folder)], check=False)
    return time.perf_counter() - t0, cpu_s() - c0, done.returncode


def main(count: int) -> None:
    # Imported here, not at the top: spawned export workers import this module as their
    # __main__, and like `lienthong claims export`'s workers they should hold only the build.
    from claims import synthetic
    from claims.codes import load_code_lists
    from claims.export import ExportConfig, export_day
    from claims.records.store import save_episode
    from claims.sign import load_signing_key
    from lienthong.db import make_engine, make_sessionmaker, writer_engine
    from lienthong.migrate import upgrade
    from tests.support.certs import make_pkcs12

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
    workers = os.cpu_count() or 1
    cfg = ExportConfig("79001", work / "outbox", load_signing_key(work / "c.p12", "bench"),
                       load_code_lists(), workers=workers, key_file=work / "c.p12",
                       key_password="bench")  # noqa: S106 - throwaway benchmark certificate
    before = peak_mb()
    sampler = TreePeak()
    sampler.start()
    c0, t0 = cpu_s(), time.perf_counter()
    report = export_day(sessions, cfg, DAY, dt.date(2026, 12, 1))
    export_s, export_cpu = time.perf_counter() - t0, cpu_s() - c0
    tree_sampled = sampler.stop()
    own = peak_mb()
    folder = work / "outbox" / DAY.strftime("%Y%m%d")
    files = len(list(folder.glob("ep*.xml")))
    validate_s, validate_cpu, rc = validate_cli(folder)
    validate_nosig_s, validate_nosig_cpu, rc_nosig = validate_cli(folder, "--no-signature")
    print(f"episodes {count}, cost lines {lines} ({lines / count:.1f}/episode); seed {seed:.1f} s")
    print(f"export ({workers} workers): {report.written} written, {report.refused} refused in "
          f"{export_s:.1f} s ({count / export_s:.0f} episodes/s), {export_cpu:.1f} CPU s; "
          f"peak RSS: main process {own:.0f} MB (before export {before:.0f} MB), main + workers "
          f"{tree_sampled:.0f} MB (sampled every 50 ms)")
    print(f"claims validate over {files} files (XSD + rules + signature): {validate_s:.1f} s, "
          f"{validate_cpu:.1f} CPU s, exit {rc}; with --no-signature {validate_nosig_s:.1f} s, "
          f"{validate_nosig_cpu:.1f} CPU s, exit {rc_nosig}")
    print(f"export / validate ratio: {export_s / validate_s:.2f}x wall, "
          f"{export_cpu / validate_cpu:.2f}x CPU ({export_s / validate_nosig_s:.2f}x / "
          f"{export_cpu / validate_nosig_cpu:.2f}x without signature check); load average "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
