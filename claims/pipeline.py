"""The export's work on one episode, without the database: pre-check rules, build, XSD, sign,
stage the file (spec §2.3–§2.7, §8).

Export worker processes import this module (not claims.export, which pulls the database and
PACS models in): a worker holds only what building a claim needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from claims.build.document import serialise
from claims.build.envelope import build_claim_file
from claims.codes import CodeLists
from claims.outbox import sha256_file, stage
from claims.records.episode import EpisodeRecord
from claims.sign import SigningKey, load_signing_key, sign_document
from claims.validate.rules import check_episode
from claims.validate.schema import schema, schema_for_table, xsd_errors
from claims.validate.violations import Violation, blocking
from claims.workers import exit_with_parent


@dataclass(frozen=True)
class ExportConfig:
    facility_code: str
    outbox: Path
    key: SigningKey
    codes: CodeLists
    machine_codes: dict[str, str] = field(default_factory=dict)
    technologist_codes: dict[str, str] = field(default_factory=dict)
    # Parallel build + sign: worker processes open the same PKCS#12 file themselves (keys are
    # not sent between processes). workers <= 1 builds in this process.
    workers: int = 1
    key_file: Path | None = None
    key_password: str | None = field(default=None, repr=False)


def build_signed(episode: EpisodeRecord, cfg: ExportConfig, built_on: dt.date
                 ) -> tuple[bytes | None, list[Violation]]:
    """Signed envelope bytes of ``episode``, or None with the blocking violations.

    Pure apart from the signature: no DB, no clock.
    """
    found = check_episode(episode, cfg.codes)
    errors = blocking(found)
    if errors:
        return None, found
    envelope, docs = build_claim_file(episode, cfg.facility_code, built_on)
    for name, root in docs:
        for message in xsd_errors(schema_for_table(name, root), root):
            errors.append(Violation(episode.ma_lk, name, None, "", "S01-XSD", "valid per XSD",
                                    f"sai cấu trúc XSD: {message}", f"XSD: {message}"))
    for message in xsd_errors(schema("GIAMDINHHS.xsd"), envelope):
        errors.append(Violation(episode.ma_lk, "GIAMDINHHS", None, "", "S01-XSD",
                                "valid per XSD", f"sai cấu trúc XSD: {message}", f"XSD: {message}"))
    if errors:
        return None, found + errors
    signed = sign_document(envelope, cfg.key)
    return serialise(signed), found


@dataclass(frozen=True)
class Built:
    """What building and staging one episode gave: the file digest (None: refused)."""

    digest: str | None
    staged: bool  # a new temporary file waits for publish()
    violations: list[Violation]


def build_and_stage(cfg: ExportConfig, folder: Path, file_name: str, record: EpisodeRecord,
                    built_on: dt.date) -> Built:
    """Build and sign ``record``; stage its file unless an identical file is already there."""
    data, found = build_signed(record, cfg, built_on)
    if data is None:
        return Built(None, False, found)
    digest = hashlib.sha256(data).hexdigest()
    if sha256_file(folder / file_name) == digest:
        return Built(digest, False, found)
    stage(folder, file_name, data)
    return Built(digest, True, found)


_WORKER_CFG: ExportConfig | None = None


def worker_init(cfg: ExportConfig) -> None:
    global _WORKER_CFG
    key = load_signing_key(cfg.key_file, cfg.key_password)
    _WORKER_CFG = replace(cfg, key=key)
    exit_with_parent()


def worker_build(item: tuple[Path, str, EpisodeRecord, dt.date]) -> Built:
    assert _WORKER_CFG is not None
    return build_and_stage(_WORKER_CFG, *item)
