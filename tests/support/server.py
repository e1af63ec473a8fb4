"""Start and stop a real `lienthong serve` process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.dcmtk import echoscu

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lienthong(data_dir: Path, *args: str, env: dict[str, str] | None = None,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a `lienthong` CLI command against `data_dir`."""
    return subprocess.run(
        [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, check=check, timeout=300, cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
    )


# Runs the CLI and reports the peak RSS of its own address space (VmHWM). The kernel's
# ru_maxrss cannot be used for this: at exec it carries over the high-water mark of the forked
# copy of the parent, i.e. of the whole test run.
_MEASURED_CLI = """
import sys
code = 1
try:
    from lienthong.cli import main
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    sys.stderr.write(f"\\nPEAK_RSS_KIB={peak}\\n")
sys.exit(code)
"""


def lienthong_measured(data_dir: Path, *args: str) -> tuple[int, str, str, int]:
    """Run a CLI command; return (exit code, stdout, stderr, its own peak RSS in KiB)."""
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED_CLI, "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False,
    )
    stderr, _, peak = result.stderr.rpartition("\nPEAK_RSS_KIB=")
    return result.returncode, result.stdout, stderr, int(peak.strip())


class LienthongServer:
    """A `lienthong serve` subprocess bound to 127.0.0.1 on free ports."""

    def __init__(self, data_dir: Path, *, workers: int = 2, env: dict[str, str] | None = None,
                 calling_ae: str = "TESTSCU", called_ae: str = "LIENTHONG",
                 global_args: tuple[str, ...] = (), log_path: Path | None = None) -> None:
        self.data_dir = data_dir
        self.called_ae = called_ae
        self.global_args = global_args
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.workers = workers
        self.env = {
            **os.environ,
            "LIENTHONG_DICOM__WORKERS": str(workers),
            "LIENTHONG_STORAGE__MIN_FREE_BYTES": "0",
            **(env or {}),
        }
        self.calling_ae = calling_ae
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = log_path or data_dir.parent / f"{data_dir.name}-server.log"

    def start(self, timeout: float = 60.0) -> LienthongServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lienthong.cli", *self.global_args,
             "--data-dir", str(self.data_dir), "serve",
             "--host", "127.0.0.1", "--dicom-port", str(self.dicom_port),
             "--http-port", str(self.http_port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env, cwd=REPO_ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early; log:\n{self.read_log()}")
            if self.healthy() and echoscu(self.dicom_port, self.calling_ae, self.called_ae):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"server not ready in {timeout}s; log:\n{self.read_log()}")

    def healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.http_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.log.close()

    def kill9(self) -> None:
        """SIGKILL the server and its DICOM workers (only processes this object started)."""
        assert self.process is not None
        children = _children(self.process.pid)
        self.process.kill()
        self.process.wait(10)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


def _children(pid: int) -> list[int]:
    result = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                            text=True, check=False)
    return [int(p) for p in result.stdout.split()]
