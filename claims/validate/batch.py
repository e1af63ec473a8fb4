"""``claims validate`` over many files: each file checked on its own, in worker processes.

Every file gets the whole check_claim_file (safe parse, envelope and table XSD, every
pre-check rule, the signature); only the scheduling differs. Results come back in the order
of the files.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from claims.codes import CodeLists
from claims.errors import UnsafeXml
from claims.validate.check_file import check_claim_file
from claims.validate.schema import all_schemas
from claims.validate.violations import Violation
from claims.workers import exit_with_parent

MAX_FILE_BYTES = 64 * 1024 * 1024
# Below this many files the pool's start-up (a fresh interpreter per worker) costs more
# than it saves.
POOL_FROM_FILES = 64


@dataclass(frozen=True)
class FileResult:
    path: Path
    violations: list[Violation]
    refused: str = ""  # why the file could not be checked at all

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]


def claim_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, a folder standing for the ``*.xml`` files directly inside it."""
    out: list[Path] = []
    for path in paths:
        out.extend(sorted(path.glob("*.xml")) if path.is_dir() else [path])
    return out


def check_path(path: Path, codes: CodeLists, verify_signature: bool = True) -> FileResult:
    if path.stat().st_size > MAX_FILE_BYTES:
        return FileResult(path, [], "file too large")
    try:
        return FileResult(path, check_claim_file(path.read_bytes(), codes,
                                                 verify_signature=verify_signature))
    except UnsafeXml as exc:
        return FileResult(path, [], str(exc))


_CODES: CodeLists | None = None
_VERIFY = True


def _init(codes: CodeLists, verify_signature: bool) -> None:
    global _CODES, _VERIFY
    _CODES, _VERIFY = codes, verify_signature
    exit_with_parent()


def _check(path: Path) -> FileResult:
    assert _CODES is not None
    return check_path(path, _CODES, _VERIFY)


def _start_method() -> str:
    """"fork" when this process runs no other thread (``claims validate``): the workers then
    start with the modules, code lists and compiled XSDs already in memory instead of importing
    and compiling them again. "spawn" otherwise (a fork copies other threads' locks in
    whatever state they were)."""
    if "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


def check_paths(paths: list[Path], codes: CodeLists, *, verify_signature: bool = True,
                workers: int = 1) -> Iterator[FileResult]:
    """check_path of every file, in order; in ``workers`` processes for a long list."""
    if workers <= 1 or len(paths) < POOL_FROM_FILES:
        for path in paths:
            yield check_path(path, codes, verify_signature)
        return
    method = _start_method()
    if method == "fork":
        all_schemas()
    with ProcessPoolExecutor(workers, mp.get_context(method), initializer=_init,
                             initargs=(codes, verify_signature)) as pool:
        yield from pool.map(_check, paths, chunksize=max(1, min(64, len(paths) // (workers * 8))))
