"""Audit events as CSV rows and as DICOM audit messages (PS3.15 A.5, the DICOM schema that
refines RFC 3881). Pure functions: no database, no clock, no I/O.

Each event becomes one ``AuditMessage`` with ``EventIdentification`` (event ID and type from
the DCM code list, as in PS3.15 A.5.3), the requesting ``ActiveParticipant`` (user, API key or
calling AE title, with its network address), the application as a second participant,
``AuditSourceIdentification``, and a ``ParticipantObjectIdentification`` for the study
(Study Instance UID, 110180) and the patient (RFC 3881 "Patient Number", 2) when known. An
export of many events wraps the messages in one ``AuditMessages`` element.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree
from lxml.builder import ElementMaker

from lienthong.audit import AuditEvent

E = ElementMaker()

CSV_COLUMNS = ("seq", "occurred_at", "actor", "actor_kind", "role", "action", "outcome",
               "address", "study_instance_uid", "patient_id", "detail", "row_hash")
# Spreadsheet formula triggers (OWASP "CSV injection"): such cells are prefixed with a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(events: Iterable[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow([_cell(getattr(event, c)) for c in CSV_COLUMNS])
    return out.getvalue()


@dataclass(frozen=True)
class Code:
    """A coded value: csd-code, codeSystemName, originalText (DICOM audit schema)."""

    code: str
    system: str
    text: str

    def element(self, tag: str) -> etree._Element:
        return E(tag, {"csd-code": self.code, "codeSystemName": self.system,
                       "originalText": self.text})


# DCM event IDs (PS3.16 CID 400) and event type codes (CID 401).
AUDIT_LOG_USED = Code("110101", "DCM", "Audit Log Used")
INSTANCES_ACCESSED = Code("110103", "DCM", "DICOM Instances Accessed")
INSTANCES_TRANSFERRED = Code("110104", "DCM", "DICOM Instances Transferred")
PATIENT_RECORD = Code("110110", "DCM", "Patient Record")
QUERY = Code("110112", "DCM", "Query")
SECURITY_ALERT = Code("110113", "DCM", "Security Alert")
USER_AUTHENTICATION = Code("110114", "DCM", "User Authentication")
LOGIN = Code("110122", "DCM", "Login")
LOGOUT = Code("110123", "DCM", "Logout")
SECURITY_ATTRIBUTES_CHANGED = Code("110137", "DCM", "User Security Attributes Changed")
RESTRICTED_FUNCTION = Code("110132", "DCM", "Use of a restricted function")
STUDY_INSTANCE_UID = Code("110180", "DCM", "Study Instance UID")
PATIENT_NUMBER = Code("2", "RFC-3881", "Patient Number")
APPLICATION = Code("110150", "DCM", "Application")

OUTCOME_INDICATOR = {"success": "0", "denied": "4", "failure": "8"}


def classify(event: AuditEvent) -> tuple[Code, str, Code | None]:
    """(EventID, EventActionCode, EventTypeCode) for an event, from its action."""
    action = event.action
    method, _, path = action.partition(" ")
    if action in ("login", "refresh"):
        return USER_AUTHENTICATION, "E", LOGIN
    if action == "logout":
        return USER_AUTHENTICATION, "E", LOGOUT
    if action.startswith("user."):
        return SECURITY_ATTRIBUTES_CHANGED, "U", None
    if event.outcome == "denied":
        return SECURITY_ALERT, "E", RESTRICTED_FUNCTION
    if path.startswith("/api/admin/audit"):
        return AUDIT_LOG_USED, "R", None
    if method in ("C-STORE",) or (method == "POST" and path.startswith("/dicomweb")):
        return INSTANCES_TRANSFERRED, "C", None
    if method in ("C-MOVE", "C-GET"):
        return INSTANCES_TRANSFERRED, "R", None
    if method == "C-FIND" or path.rstrip("/").endswith(("/studies", "/series", "/instances")):
        return QUERY, "E", None
    if path.startswith(("/api/orders", "/api/claims")):
        return PATIENT_RECORD, "C" if method == "POST" else "R", None
    return INSTANCES_ACCESSED, "R", None


def audit_message(event: AuditEvent, *, source_id: str) -> etree._Element:
    """One DICOM AuditMessage for one event; ``source_id`` is our AE title."""
    event_id, action_code, type_code = classify(event)
    identification = E.EventIdentification(
        {"EventActionCode": action_code, "EventDateTime": event.occurred_at,
         "EventOutcomeIndicator": OUTCOME_INDICATOR.get(event.outcome, "8")},
        event_id.element("EventID"),
    )
    if type_code is not None:
        identification.append(type_code.element("EventTypeCode"))
    if event.detail:
        identification.append(E.EventOutcomeDescription(event.detail))
    requestor = E.ActiveParticipant(
        {"UserID": event.actor, "UserIsRequestor": "true",
         "NetworkAccessPointID": event.address or "-", "NetworkAccessPointTypeCode": "2"}
    )
    if event.actor_kind == "dicom_ae":
        requestor.set("AlternativeUserID", f"AETITLES={event.actor}")
    if event.role:
        requestor.append(Code(event.role, "99LIENTHONG", event.role).element("RoleIDCode"))
    application = E.ActiveParticipant(
        {"UserID": source_id, "UserIsRequestor": "false",
         "AlternativeUserID": f"AETITLES={source_id}"},
        APPLICATION.element("RoleIDCode"),
    )
    message = E.AuditMessage(identification, requestor, application,
                             E.AuditSourceIdentification({"AuditSourceID": source_id}))
    if event.study_instance_uid:
        message.append(E.ParticipantObjectIdentification(
            {"ParticipantObjectID": event.study_instance_uid,
             "ParticipantObjectTypeCode": "2", "ParticipantObjectTypeCodeRole": "3"},
            STUDY_INSTANCE_UID.element("ParticipantObjectIDTypeCode"),
        ))
    if event.patient_id:
        message.append(E.ParticipantObjectIdentification(
            {"ParticipantObjectID": event.patient_id,
             "ParticipantObjectTypeCode": "1", "ParticipantObjectTypeCodeRole": "1"},
            PATIENT_NUMBER.element("ParticipantObjectIDTypeCode"),
        ))
    return message


def audit_messages(events: Iterable[AuditEvent], *, source_id: str) -> bytes:
    root = E.AuditMessages(*(audit_message(e, source_id=source_id) for e in events))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
