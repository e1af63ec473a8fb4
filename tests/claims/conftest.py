"""Claims fixtures: code lists, a test signing certificate, synthetic episodes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from claims import synthetic
from claims.codes import CodeLists, load_code_lists
from claims.records.episode import EpisodeRecord
from claims.sign import SigningKey, load_signing_key
from tests.support.certs import make_pkcs12

DAY = dt.date(2026, 11, 30)
PASSWORD = "test-only-password"


@pytest.fixture(scope="session")
def codes() -> CodeLists:
    return load_code_lists()


@pytest.fixture(scope="session")
def p12(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, x509.Certificate]:
    path = tmp_path_factory.mktemp("cert") / "hospital.p12"
    return path, make_pkcs12(path, PASSWORD)


@pytest.fixture(scope="session")
def signing_key(p12: tuple[Path, x509.Certificate]) -> SigningKey:
    return load_signing_key(p12[0], PASSWORD)


@pytest.fixture()
def episode() -> EpisodeRecord:
    return synthetic.episode(7, DAY)


def claims_env(p12: Path) -> dict[str, str]:
    return {
        "LIENTHONG_CLAIMS__FACILITY_CODE": synthetic.FACILITY,
        "LIENTHONG_CLAIMS__CERTIFICATE_PATH": str(p12),
        "LIENTHONG_CLAIMS__CERTIFICATE_PASSWORD": PASSWORD,
    }
