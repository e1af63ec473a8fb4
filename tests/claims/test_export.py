"""Daily export: one signed file per episode + manifest, same bytes on re-run, complete after a
kill -9 in the middle, never duplicates."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509

from claims import synthetic
from tests.claims.conftest import DAY, claims_env
from tests.support.server import REPO_ROOT, _children, lienthong


def _seed(data: Path, count: int) -> None:
    episodes = []
    for i in range(count):
        e = synthetic.episode(i, DAY, lines=8)
        episodes.append({"XML1": e.xml1, **{k: v for k, v in e.tables.items() if k != "XML1"}})
    source = data.parent / f"seed-{count}.json"
    source.write_text(json.dumps(episodes, ensure_ascii=False), "utf-8")
    lienthong(data, "claims", "import", str(source))


def _outbox(data: Path) -> Path:
    return data / "claims" / "outbox" / DAY.strftime("%Y%m%d")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except FileNotFoundError:
        return False


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_export_twice_gives_the_same_bytes(tmp_path: Path,
                                           p12: tuple[Path, x509.Certificate]) -> None:
    data = tmp_path / "data"
    _seed(data, 6)
    env = claims_env(p12[0])
    first = lienthong(data, "claims", "export", "--date", DAY.isoformat(), "--quiet", env=env)
    assert "6 written" in first.stdout
    before = _digests(_outbox(data))
    second = lienthong(data, "claims", "export", "--date", DAY.isoformat(), "--quiet", env=env)
    assert "0 written, 6 unchanged" in second.stdout
    assert _digests(_outbox(data)) == before
    manifest = json.loads((_outbox(data) / "manifest.json").read_text("utf-8"))
    assert manifest["counts"] == {"files": 6, "refused": 0}
    assert {f["sha256"] for f in manifest["files"]} == {
        v for k, v in before.items() if k != "manifest.json"}
    files = [str(p) for p in _outbox(data).glob("ep*.xml")]
    check = lienthong(data, "claims", "validate", "--quiet", *files, env=env)
    assert check.returncode == 0


def test_export_refuses_to_sign_without_password(tmp_path: Path,
                                                 p12: tuple[Path, x509.Certificate]) -> None:
    env = claims_env(p12[0])
    env["LIENTHONG_CLAIMS__CERTIFICATE_PASSWORD"] = ""
    result = lienthong(tmp_path / "data", "claims", "export", "--date", DAY.isoformat(),
                       "--quiet", env=env, check=False)
    assert result.returncode == 2 and "password" in result.stderr
    assert not _outbox(tmp_path / "data").exists()


def test_kill_9_in_the_middle_then_rerun_completes_without_duplicates(
    tmp_path: Path, p12: tuple[Path, x509.Certificate]
) -> None:
    data = tmp_path / "data"
    count = 600
    _seed(data, count)
    env = {**os.environ, **claims_env(p12[0])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data), "claims", "export",
         "--date", DAY.isoformat(), "--quiet"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if _outbox(data).is_dir() and len(list(_outbox(data).glob("ep*.xml"))) >= 10:
            break
        time.sleep(0.01)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Its build workers follow it (they watch their parent), leaving nothing running.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)]
    partial = len(list(_outbox(data).glob("ep*.xml")))
    assert partial < count, "the export finished before it could be killed"
    assert not (_outbox(data) / "manifest.json").exists()

    rerun = lienthong(data, "claims", "export", "--date", DAY.isoformat(), "--quiet",
                      env=claims_env(p12[0]))
    assert rerun.returncode == 0
    files = sorted(_outbox(data).glob("ep*.xml"))
    assert len(files) == count
    assert all(p.name.endswith("_v1.xml") for p in files)
    assert not list(_outbox(data).glob(".tmp-*"))
    manifest = json.loads((_outbox(data) / "manifest.json").read_text("utf-8"))
    assert len({f["ma_lk"] for f in manifest["files"]}) == count == len(manifest["files"])
    for f in manifest["files"]:
        assert hashlib.sha256((_outbox(data) / f["file"]).read_bytes()).hexdigest() == f["sha256"]
    third = lienthong(data, "claims", "export", "--date", DAY.isoformat(), "--quiet",
                      env=claims_env(p12[0]))
    assert f"0 written, {count} unchanged" in third.stdout


def test_changed_episode_gets_a_new_version_and_the_old_file_goes(
    tmp_path: Path, p12: tuple[Path, x509.Certificate]
) -> None:
    data = tmp_path / "data"
    _seed(data, 2)
    env = claims_env(p12[0])
    lienthong(data, "claims", "export", "--date", DAY.isoformat(), "--quiet", env=env)
    e = synthetic.episode(0, DAY, lines=8)
    e.xml1["CHAN_DOAN_RV"] = "Chấn thương nội sọ, đã ổn định"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps({"XML1": e.xml1, **{k: v for k, v in e.tables.items()
                                                      if k != "XML1"}}, ensure_ascii=False))
    lienthong(data, "claims", "import", str(changed))
    out = lienthong(data, "claims", "export", "--date", DAY.isoformat(), "--quiet", env=env)
    assert "1 written, 1 unchanged" in out.stdout
    names = sorted(p.name for p in _outbox(data).glob("ep*.xml"))
    assert names == ["ep00000001_v2.xml", "ep00000002_v1.xml"]
