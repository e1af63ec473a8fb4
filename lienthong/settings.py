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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
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

    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, not a no-op

    ae_title: str = Field("LIENTHONG", description="Our own AE title (called AE title).")
    port: int = Field(11112, ge=1, le=65535, description="TCP port of the DICOM SCP.")
    allow_any_calling_ae: bool = Field(
        False, description="Accept associations from AE titles not registered with `ae add`."
    )
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="DICOM worker processes sharing the port (least busy accepts); 0 = per CPU.",
    )
    max_associations: int = Field(32, ge=1, description="Concurrent associations per worker.")
    max_pdu_size: int = Field(0, ge=0, description="Maximum PDU we receive; 0 = unlimited.")
    direct_store: bool = Field(
        True,
        description="Serve plain storage associations (C-STORE and C-ECHO only) with the direct"
        " path instead of pynetdicom's reactor threads.",
    )
    acse_timeout: float = Field(30.0, gt=0, description="Seconds to wait for association messages.")
    dimse_timeout: float = Field(60.0, gt=0, description="Seconds to wait for DIMSE messages.")
    network_timeout: float = Field(60.0, gt=0, description="Seconds of silence before abort.")

    @field_validator("ae_title")
    @classmethod
    def _ae_title(cls, value: str) -> str:
        return check_ae_title(value)


class StorageSettings(BaseModel):
    """Where instance files live and when to refuse new ones."""

    model_config = ConfigDict(extra="forbid")

    min_free_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Refuse C-STORE with 0xA700 when the storage volume has less free space.",
    )
    commit_batch: int = Field(
        64, ge=1, le=1024, description="Most instances indexed in one transaction (group commit)."
    )
    sync: Literal["filesystem", "files"] = Field(
        "filesystem",
        description="How a batch of received files is made durable before it is indexed: "
        "'filesystem' flushes the storage file system once (syncfs; cheapest when the volume "
        "holds mostly the archive), 'files' fsyncs each file and folder (better on a volume "
        "shared with other busy writers).",
    )


class ReportsSettings(BaseModel):
    """Radiology reports: the printed header and the archive copy."""

    hospital_name: str = Field(
        "Bệnh viện Đa khoa tỉnh", description="Hospital name printed at the top of every report."
    )
    department: str = Field(
        "Khoa Chẩn đoán hình ảnh", description="Department line under the hospital name."
    )
    address: str = Field("", description="Address line of the report header (may be empty).")
    font_path: Path = Field(
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        description="TrueType font with Vietnamese glyphs for the PDF (Debian fonts-dejavu-core).",
    )
    bold_font_path: Path = Field(
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
        description="Bold face of the same font, for headings.",
    )
    archive_signed: bool = Field(
        True,
        description="Store each signed report in the archive as DICOM Encapsulated PDF.",
    )


class OidcSettings(BaseModel):
    """Login through the hospital's OpenID Connect identity provider (code flow with PKCE).

    Users still need a local account (``lienthong users add NAME --role R --no-password``): the
    identity provider proves who they are, the local account says what they may do.
    """

    enabled: bool = Field(False, description="Offer login through the identity provider.")
    issuer: str = Field("", description="The provider's issuer URL (discovery is read from "
                        "<issuer>/.well-known/openid-configuration).")
    client_id: str = Field("", description="Our client id at the provider.")
    client_secret: str | None = Field(
        None, repr=False, description="Client secret (client_secret_post); none = public client."
    )
    redirect_uri: str = Field(
        "", description="Our callback as registered, e.g. https://pacs.example/api/auth/oidc/callback."
    )
    scopes: str = Field("openid profile", description="Scopes requested.")
    username_claim: str = Field(
        "preferred_username", description="ID token claim matched to the local user name."
    )

    @field_validator("issuer", "redirect_uri")
    @classmethod
    def _https(cls, value: str) -> str:
        # Plain http only to this machine (a stand-in provider in tests, a local proxy).
        if value and not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("OIDC URLs must use https (http only for 127.0.0.1/localhost)")
        return value


class DicomwebSettings(BaseModel):
    """The DICOMweb gateway (QIDO-RS, WADO-RS, STOW-RS, WADO-URI)."""

    public_url: str = Field(
        "",
        description="Base URL in front of /dicomweb (behind a proxy); '' = the request's.",
    )
    qido_default_limit: int = Field(100, ge=1, description="QIDO-RS results without a limit.")
    qido_max_limit: int = Field(1000, ge=1, description="Largest QIDO-RS limit honoured.")
    stow_max_part_bytes: int = Field(
        1024**3, ge=1024, description="Largest instance STOW-RS accepts (HTTP 413 above)."
    )
    stow_max_request_bytes: int = Field(
        8 * 1024**3, ge=1024, description="Largest STOW-RS request body (HTTP 413 above)."
    )
    dataset_cache_bytes: int = Field(
        64 * 1024**2,
        ge=0,
        description="Parsed instances kept for frame and rendered requests (bytes; 0 = none).",
    )


class AuthSettings(BaseModel):
    """Users, tokens, browser sessions and login throttling of the HTTP gateway."""

    # A plain str (not SecretStr) so that the settings survive model_dump(mode="json") into the
    # worker processes; repr=False keeps it out of reprs and logs.
    secret_key: str | None = Field(
        None,
        repr=False,
        description="Key for token hashes and CSRF tokens; unset = generated into "
        "<data_dir>/secret_key (0600) on first start. Short or repetitive keys are refused.",
    )
    access_token_ttl: int = Field(900, ge=60, le=3600, description="Bearer access token seconds.")
    refresh_token_ttl: int = Field(
        43200, ge=300, le=30 * 86400, description="Refresh token (and bearer session) seconds."
    )
    session_ttl: int = Field(
        28800, ge=300, le=7 * 86400, description="Browser cookie session seconds."
    )
    login_max_failures: int = Field(
        10, ge=1, le=100, description="Failed logins per account or address within the window "
        "before further attempts get 429."
    )
    login_window: int = Field(900, ge=60, description="Throttling window in seconds.")
    min_password_length: int = Field(12, ge=8, le=128, description="Shortest accepted password.")
    password_hash_memory_kib: int = Field(
        65536, ge=19456, le=4 * 1024 * 1024, description="argon2id memory cost in KiB."
    )
    password_hash_time_cost: int = Field(3, ge=2, le=20, description="argon2id passes.")
    require_mfa_for_admins: bool = Field(
        True, description="Password logins as admin need a TOTP code (enrol with `users mfa`)."
    )
    oidc: OidcSettings = Field(default_factory=OidcSettings)  # type: ignore[arg-type]
    secure_cookies: bool = Field(
        False,
        description="Always mark cookies Secure (set behind a TLS-terminating proxy); they are "
        "Secure anyway when the request came over https.",
    )


class CommitmentSettings(BaseModel):
    """Storage commitment (N-ACTION / N-EVENT-REPORT)."""

    retry_interval: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds between attempts to deliver a pending commitment report.",
    )
    claim_lease: float = Field(
        300.0,
        ge=1,
        le=86400,
        description="Seconds after which a report claimed by a worker that did not finish it "
        "(killed process, lost host) is taken over by another; longer than any one delivery.",
    )


class QuerySettings(BaseModel):
    """Query/Retrieve (C-FIND, C-MOVE, C-GET) and the Modality Worklist."""

    max_results: int = Field(
        1000,
        ge=1,
        le=65535,
        description="Most matches one C-FIND may return; more is refused with 0xA700.",
    )
    fuzzy_person_names: bool = Field(
        False,
        description="Match person names without case and Vietnamese diacritics for every "
        "C-FIND, also for SCUs that cannot ask for it by extended negotiation.",
    )


class ClaimsSettings(BaseModel):
    """The QĐ 130 claims export (claims/)."""

    model_config = ConfigDict(extra="forbid")

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
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or one JSON object per line."
    )
    viewer_dir: Path | None = Field(
        None,
        description="Built web viewer served under /viewer/; default viewer/dist of the source "
        "tree (built by `npm ci && npm run build` in viewer/).",
    )
    dicom: DicomSettings = Field(default_factory=DicomSettings)  # type: ignore[arg-type]
    storage: StorageSettings = Field(default_factory=StorageSettings)  # type: ignore[arg-type]
    claims: ClaimsSettings = Field(default_factory=ClaimsSettings)  # type: ignore[arg-type]
    reports: ReportsSettings = Field(default_factory=ReportsSettings)  # type: ignore[arg-type]
    dicomweb: DicomwebSettings = Field(default_factory=DicomwebSettings)  # type: ignore[arg-type]
    auth: AuthSettings = Field(default_factory=AuthSettings)  # type: ignore[arg-type]
    query: QuerySettings = Field(default_factory=QuerySettings)  # type: ignore[arg-type]
    commitment: CommitmentSettings = Field(
        default_factory=CommitmentSettings  # type: ignore[arg-type]
    )

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
    _check_environment()
    _CONFIG_FILE.path = config_file
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _CONFIG_FILE.path = None


def _check_environment() -> None:
    """Refuse ``LIENTHONG_*`` variables that name no setting (pydantic-settings ignores them).

    Nested sections forbid unknown keys themselves; this catches unknown top-level names.
    """
    prefix = "LIENTHONG_"
    unknown = sorted(
        name
        for name in os.environ
        if name.upper().startswith(prefix)
        and name[len(prefix) :].lower().split("__")[0] not in Settings.model_fields
    )
    if unknown:
        raise ValueError(f"unknown setting(s) in the environment: {', '.join(unknown)}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for processes that were not handed any (the FastAPI dependency default)."""
    return load_settings()
