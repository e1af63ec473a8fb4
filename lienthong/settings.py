"""The one settings object.

Every tunable of Lienthong lives here, read from (lowest to highest priority) the defaults below,
an optional TOML config file, ``LIENTHONG_*`` environment variables (nested sections with ``__``,
e.g. ``LIENTHONG_DICOM__AE_TITLE``) and explicit overrides passed by the CLI. It is built once at
the edge (CLI, ``create_app``) and passed down; no other module reads the environment.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

_AE_TITLE_MAX = 16


def check_ae_title(value: str) -> str:
    value = value.strip()
    if not value or len(value) > _AE_TITLE_MAX or "\\" in value or not value.isprintable():
        raise ValueError("an AE title is 1-16 printable characters without backslash")
    return value


class DicomSettings(BaseModel):
    """The DICOM (DIMSE) service."""

    ae_title: str = Field("LIENTHONG", description="Our own AE title (called AE title).")
    port: int = Field(11112, ge=1, le=65535, description="TCP port of the DICOM SCP.")
    allow_any_calling_ae: bool = Field(
        False, description="Accept associations from AE titles not registered with `ae add`."
    )
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="DICOM worker processes sharing the port (SO_REUSEPORT); 0 = one per CPU.",
    )
    max_associations: int = Field(32, ge=1, description="Concurrent associations per worker.")
    max_pdu_size: int = Field(0, ge=0, description="Maximum PDU we receive; 0 = unlimited.")
    acse_timeout: float = Field(30.0, gt=0, description="Seconds to wait for association messages.")
    dimse_timeout: float = Field(60.0, gt=0, description="Seconds to wait for DIMSE messages.")
    network_timeout: float = Field(60.0, gt=0, description="Seconds of silence before abort.")

    @field_validator("ae_title")
    @classmethod
    def _ae_title(cls, value: str) -> str:
        return check_ae_title(value)


class StorageSettings(BaseModel):
    """Where instance files live and when to refuse new ones."""

    min_free_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Refuse C-STORE with 0xA700 when the storage volume has less free space.",
    )
    commit_batch: int = Field(
        64, ge=1, le=1024, description="Most instances indexed in one transaction (group commit)."
    )


class ClaimsSettings(BaseModel):
    """The QĐ 130 claims export (claims/)."""

    facility_code: str = Field(
        "", description="MA_CSKCB / MACSKCB: the hospital's 5-character facility code."
    )
    outbox_dir: Path | None = Field(
        None, description="Folder for signed claim files; default <data_dir>/claims/outbox."
    )
    certificate_path: Path | None = Field(
        None, description="PKCS#12 file with the hospital's signing key and certificate."
    )
    certificate_password: SecretStr | None = Field(
        None, description="Password of the PKCS#12 file; no default, signing is refused without."
    )
    export_time: dt.time = Field(
        dt.time(1, 0), description="Local time of day of the daily export inside `serve`."
    )
    daily_export: bool = Field(False, description="Run the daily export inside `serve`.")
    export_workers: int = Field(
        0, ge=0, le=64, description="Processes building and signing files; 0 = one per CPU."
    )
    code_list_dir: Path | None = Field(
        None, description="Folder whose <list>.csv files replace the shipped code lists."
    )
    machine_codes: dict[str, str] = Field(
        default_factory=dict,
        description="MA_MAY per sending AE title or station name, e.g. {CT1: CL.1.79001.SN42}.",
    )
    technologist_codes: dict[str, str] = Field(
        default_factory=dict,
        description="CCHN code per technologist name (DICOM Operators' Name), for NGUOI_THUC_HIEN.",
    )

    portal_url: str = Field(
        "", description="Portal base URL, e.g. https://egw.baohiemxahoi.gov.vn (test host: "
        "https://daotaoegw.baohiemxahoi.gov.vn)."
    )
    portal_username: str = Field("", description="Portal account, <MA_CSKCB>_BV.")
    portal_password: SecretStr | None = Field(
        None, description="Portal account password; no default, nothing is sent without it."
    )

    @field_validator("facility_code")
    @classmethod
    def _facility(cls, value: str) -> str:
        if value and not re.fullmatch(r"[0-9A-Z]{5}", value):
            raise ValueError("claims.facility_code is 5 characters (digits / capital letters)")
        return value


class Settings(BaseSettings):
    """All of Lienthong's settings."""

    model_config = SettingsConfigDict(
        env_prefix="LIENTHONG_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Field(Path("var"), description="Folder for instance files, SQLite, logs.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the index; default sqlite:///<data_dir>/index.sqlite3.",
    )
    host: str = Field("127.0.0.1", description="Address the DICOM and HTTP servers bind to.")
    http_port: int = Field(8042, ge=1, le=65535, description="TCP port of the HTTP app.")
    log_level: str = Field("INFO", description="Python logging level.")
    dicom: DicomSettings = Field(default_factory=DicomSettings)  # type: ignore[arg-type]
    storage: StorageSettings = Field(default_factory=StorageSettings)  # type: ignore[arg-type]
    claims: ClaimsSettings = Field(default_factory=ClaimsSettings)  # type: ignore[arg-type]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _CONFIG_FILE.path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_CONFIG_FILE.path))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'index.sqlite3').resolve()}"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def claims_outbox_dir(self) -> Path:
        return self.claims.outbox_dir or self.data_dir / "claims" / "outbox"

    @property
    def dicom_workers(self) -> int:
        return self.dicom.workers or max(1, os.cpu_count() or 1)


class _ConfigFile:
    path: Path | None = None


_CONFIG_FILE = _ConfigFile()


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, an optional TOML file, the environment and overrides."""
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    _CONFIG_FILE.path = config_file
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _CONFIG_FILE.path = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for processes that were not handed any (the FastAPI dependency default)."""
    return load_settings()
