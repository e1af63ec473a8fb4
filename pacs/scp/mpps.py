"""MPPS SCP: N-CREATE and N-SET on Modality Performed Procedure Step (PS3.4 F.7.2).

Statuses: 0x0000; 0x0106 invalid attribute value (status); 0x0110 processing failure (step
already COMPLETED or DISCONTINUED); 0x0111 duplicate SOP instance; 0x0112 no such SOP instance;
0x0110 for an undecodable dataset or an unexpected error.
"""

from __future__ import annotations

import json
import logging
from typing import cast

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.dimse_primitives import N_CREATE, N_SET
from pynetdicom.events import Event
from sqlalchemy.orm import Session, sessionmaker

from pacs.errors import PacsError
from pacs.orders.mpps import create_step, update_step
from pacs.scp.status import log_failure

log = logging.getLogger(__name__)

PROCESSING_FAILURE = 0x0110


def _json(ds: Dataset) -> dict[str, object]:
    body: dict[str, object] = json.loads(ds.to_json())
    return body


def _scheduled_keys(ds: Dataset) -> tuple[str, str]:
    """Accession number and Study Instance UID of the worklist entry the step performs."""
    for item in ds.get("ScheduledStepAttributesSequence") or []:
        accession = str(item.get("AccessionNumber") or "").strip()
        study = str(item.get("StudyInstanceUID") or "").strip()
        if accession or study:
            return accession, study
    return "", ""


def handle_n_create(
    event: Event, sessions: sessionmaker[Session]
) -> tuple[int, Dataset | None]:
    calling = event.assoc.requestor.ae_title.strip()
    request = cast(N_CREATE, event.request)
    try:
        attributes = cast(Dataset, event.attribute_list)
        uid = str(request.AffectedSOPInstanceUID or generate_uid())
        accession, study = _scheduled_keys(attributes)
        with sessions.begin() as session:
            create_step(
                session,
                uid,
                _json(attributes),
                status=str(attributes.get("PerformedProcedureStepStatus", "")).strip(),
                accession=accession,
                study_uid=study,
                calling_ae_title=calling,
            )
    except PacsError as exc:
        log_failure("MPPS N-CREATE", calling, exc)
        return exc.dimse_status, None
    except Exception:
        log.exception("MPPS N-CREATE from %s failed unexpectedly", calling)
        return PROCESSING_FAILURE, None
    log.info("MPPS %s created by %s (IN PROGRESS)", uid, calling)
    reply = Dataset()
    reply.update(attributes)
    if request.AffectedSOPInstanceUID is None:
        # We assigned the UID; pynetdicom moves it from the reply into the response (F.7.2.1).
        reply.AffectedSOPInstanceUID = uid
    return 0x0000, reply


def handle_n_set(event: Event, sessions: sessionmaker[Session]) -> tuple[int, Dataset | None]:
    calling = event.assoc.requestor.ae_title.strip()
    request = cast(N_SET, event.request)
    uid = str(request.RequestedSOPInstanceUID or "")
    try:
        changes = cast(Dataset, event.modification_list)
        status = changes.get("PerformedProcedureStepStatus")
        with sessions.begin() as session:
            step = update_step(
                session, uid, _json(changes), status=str(status).strip() if status else None
            )
            final = step.status
    except PacsError as exc:
        log_failure("MPPS N-SET", calling, exc)
        return exc.dimse_status, None
    except Exception:
        log.exception("MPPS N-SET from %s failed unexpectedly", calling)
        return PROCESSING_FAILURE, None
    log.info("MPPS %s set by %s (%s)", uid, calling, final)
    return 0x0000, changes
