"""QIDO-RS (PS3.18 10.6): search for studies, series and instances.

Matching is the C-FIND engine's (``pacs.index.query.find``, relational): the same wildcards,
ranges, lists and fuzzy person-name matching as the DICOM SCP. Query values arrive
percent-encoded UTF-8 and are matched as Unicode (NFC), so ``PatientName=Lương*`` finds
Vietnamese names. Responses are application/dicom+json with the attributes PS3.18 Tables
10.6.3-3..5 require at each level, plus those named by ``includefield`` (or ``all``).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.auth.roles import Role
from gateway.deps import current_principal
from gateway.dicomweb.access import StudyAccess, person_key, record_access
from gateway.dicomweb.common import PREFIX, PRIVATE_HEADERS, BaseUrlDep, ReadSessionDep
from gateway.dicomweb.dicomjson import dumps
from gateway.dicomweb.media import DICOM_JSON
from gateway.dicomweb.resources import QueryParameterError, check_uid
from lienthong import audit
from lienthong.settings import DicomwebSettings
from pacs.index.models import Study
from pacs.index.query import QueryLevel, find, supported_keys

router = APIRouter(prefix=PREFIX, tags=["QIDO-RS"])

RESERVED = frozenset({"limit", "offset", "includefield", "fuzzymatching"})

# PS3.18 Table 10.6.3-3 (study), -4 (series), -5 (instance): returned for every match.
STUDY_KEYS = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SERIES_KEYS = (
    "Modality",
    "SeriesDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)
INSTANCE_KEYS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "NumberOfFrames",
)


def keyword_of(name: str) -> str:
    """A query key as a DICOM keyword: ``PatientName`` or ``00100010``."""
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        keyword = keyword_for_tag(int(name, 16))
        if keyword:
            return str(keyword)
    if tag_for_keyword(name) is not None:
        return name
    raise QueryParameterError(f"{name!r} is not a DICOM attribute keyword or tag")


MAX_OFFSET = 2**31 - 1  # beyond any index; keeps the SQL OFFSET inside a 64-bit integer


def _int(value: str | None, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise QueryParameterError(f"{name} must be a non-negative integer") from None
    if not 0 <= number <= MAX_OFFSET:
        raise QueryParameterError(f"{name} must be an integer from 0 to {MAX_OFFSET}")
    return number


def _value(keyword: str, value: str) -> str:
    """A match value as Unicode NFC; control characters (NUL, ...) are refused."""
    if any(ord(c) < 32 for c in value):
        raise QueryParameterError(f"{keyword}: control characters are not allowed")
    return unicodedata.normalize("NFC", value)


class Search:
    """One QIDO-RS request, parsed: filters, returned keys, paging, fuzziness."""

    def __init__(
        self,
        level: QueryLevel,
        params: list[tuple[str, str]],
        settings: DicomwebSettings,
        scope: Mapping[str, str],
    ) -> None:
        self.level = level
        available = supported_keys(level)
        self.filters: dict[str, str] = {}
        self.include: list[str] = []
        include_all = False
        values: dict[str, str] = {}
        for name, value in params:
            if name in RESERVED:
                values[name] = value
                if name == "includefield":
                    for item in value.split(","):
                        item = item.strip()
                        if item == "all":
                            include_all = True
                        elif item:
                            self.include.append(keyword_of(item))
                continue
            keyword = keyword_of(name)
            if keyword not in available:
                raise QueryParameterError(f"{keyword} cannot be matched at {level} level")
            self.filters[keyword] = _value(keyword, value)
        self.filters.update(scope)
        self.fuzzy = values.get("fuzzymatching", "false").lower() == "true"
        limit = _int(values.get("limit"), settings.qido_default_limit, "limit")
        self.limit = min(limit, settings.qido_max_limit) if limit else settings.qido_max_limit
        self.offset = _int(values.get("offset"), 0, "offset")
        required = list(STUDY_KEYS)
        if level in (QueryLevel.SERIES, QueryLevel.IMAGE):
            required += SERIES_KEYS
        if level is QueryLevel.IMAGE:
            required += INSTANCE_KEYS
        extra = sorted(available) if include_all else [k for k in self.include if k in available]
        self.keys = list(dict.fromkeys([*required, *extra, *self.filters]))


@functools.cache
def _describe(keyword: str) -> tuple[str, str]:
    """(tag as 8 hex digits, VR) of a keyword: the data dictionary is slow to ask per value."""
    return f"{tag_for_keyword(keyword):08X}", str(dictionary_VR(keyword))


def _element(keyword: str, value: Any) -> dict[str, Any]:
    vr = _describe(keyword)[1]
    if value is None or value == "":
        return {"vr": vr}
    if vr == "PN":
        groups = str(value).split("=")
        names = dict(zip(("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False))
        return {"vr": vr, "Value": [{k: v for k, v in names.items() if v}]}
    if vr in ("IS", "US", "UL", "SL", "SS"):
        try:
            return {"vr": vr, "Value": [int(value)]}
        except (TypeError, ValueError):
            return {"vr": vr}
    if isinstance(value, str) and "\\" in value:
        return {"vr": vr, "Value": value.split("\\")}
    return {"vr": vr, "Value": [value]}


def _retrieve_url(base: str, level: QueryLevel, match: Mapping[str, Any]) -> str:
    url = f"{base}/studies/{match['StudyInstanceUID']}"
    if level in (QueryLevel.SERIES, QueryLevel.IMAGE):
        url += f"/series/{match['SeriesInstanceUID']}"
    if level is QueryLevel.IMAGE:
        url += f"/instances/{match['SOPInstanceUID']}"
    return url


def to_dicom_json(
    match: Mapping[str, Any], keys: list[str], level: QueryLevel, base: str
) -> dict[str, Any]:
    """One match as a DICOM JSON object, tags in ascending order (PS3.18 F.2)."""
    body: dict[str, Any] = {
        _describe(k)[0]: _element(k, match.get(k)) for k in keys if k in match
    }
    body["00080056"] = {"vr": "CS", "Value": ["ONLINE"]}  # Instance Availability
    body["00081190"] = {"vr": "UR", "Value": [_retrieve_url(base, level, match)]}
    return dict(sorted(body.items()))


def _visible_studies(session: Session, principal_name: str) -> list[str]:
    """Study UIDs whose Referring Physician's Name is the referring doctor's (see access)."""
    mine = person_key(principal_name)
    rows = session.execute(
        select(Study.study_instance_uid, Study.referring_physician_name).where(
            Study.referring_physician_name != ""
        )
    )
    return [uid for uid, name in rows if person_key(name) == mine]


def search(
    request: Request,
    session: Session,
    base: str,
    level: QueryLevel,
    scope: dict[str, str],
) -> Response:
    settings: DicomwebSettings = request.app.state.archive.settings.dicomweb
    parsed = Search(level, list(request.query_params.multi_items()), settings, scope)
    principal = current_principal(request)
    filters = dict(parsed.filters)
    nothing_visible = principal.kind == "user" and principal.role == Role.EXTERNAL_SPECIALIST
    if principal.kind == "user" and principal.role == Role.REFERRING_DOCTOR:
        visible = _visible_studies(session, principal.name)
        wanted = filters.get("StudyInstanceUID", "").strip()
        if wanted:
            visible = [uid for uid in visible if uid in wanted.split("\\")]
        filters["StudyInstanceUID"] = "\\".join(visible)
        nothing_visible = not visible
    matches: list[dict[str, Any]] = []
    if not nothing_visible:
        matches = find(
            session,
            level,
            filters,
            fuzzy=parsed.fuzzy,
            relational=True,
            limit=parsed.limit + 1,
            offset=parsed.offset,
        )
    more = len(matches) > parsed.limit
    matches = matches[: parsed.limit]
    studies = {m["StudyInstanceUID"] for m in matches}
    patients = {m.get("PatientID", "") for m in matches}
    record_access(
        request,
        principal,
        audit.Outcome.SUCCESS,
        study_instance_uid=next(iter(studies)) if len(studies) == 1 else None,
        patient_id=next(iter(patients)) if len(patients) == 1 else None,
        detail=f"QIDO-RS {level} search: {len(matches)} match(es) in {len(studies)} study(ies)",
    )
    headers = dict(PRIVATE_HEADERS)
    if more:
        headers["Warning"] = '299 lienthong: "There are additional results that can be requested"'
    body = [to_dicom_json(m, parsed.keys, level, base) for m in matches]
    return Response(dumps(body).encode("utf-8"), media_type=DICOM_JSON, headers=headers)


@router.get("/studies", summary="Search for studies (QIDO-RS)")
def search_studies(request: Request, session: ReadSessionDep, base: BaseUrlDep) -> Response:
    return search(request, session, base, QueryLevel.STUDY, {})


@router.get("/series", summary="Search for series of all studies")
def search_all_series(request: Request, session: ReadSessionDep, base: BaseUrlDep) -> Response:
    return search(request, session, base, QueryLevel.SERIES, {})


@router.get("/instances", summary="Search for instances of all studies")
def search_all_instances(request: Request, session: ReadSessionDep, base: BaseUrlDep) -> Response:
    return search(request, session, base, QueryLevel.IMAGE, {})


@router.get("/studies/{study}/series", summary="Search for series of a study")
def search_study_series(
    study: str, _access: StudyAccess, request: Request, session: ReadSessionDep, base: BaseUrlDep
) -> Response:
    return search(request, session, base, QueryLevel.SERIES, {"StudyInstanceUID": study})


@router.get("/studies/{study}/instances", summary="Search for instances of a study")
def search_study_instances(
    study: str, _access: StudyAccess, request: Request, session: ReadSessionDep, base: BaseUrlDep
) -> Response:
    return search(request, session, base, QueryLevel.IMAGE, {"StudyInstanceUID": study})


@router.get(
    "/studies/{study}/series/{series}/instances", summary="Search for instances of a series"
)
def search_series_instances(
    study: str,
    _access: StudyAccess,
    series: str,
    request: Request,
    session: ReadSessionDep,
    base: BaseUrlDep,
) -> Response:
    scope = {"StudyInstanceUID": study, "SeriesInstanceUID": check_uid(series)}
    return search(request, session, base, QueryLevel.IMAGE, scope)
