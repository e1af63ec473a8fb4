"""DIMSE event handlers: parse the event, call one archive service, map the result to a status.

Exceptions become statuses here and nowhere else (the PacsError family carries its own status);
an unexpected exception is logged with its traceback and answered 0xC211, never Success.
"""

from __future__ import annotations

import logging
from typing import cast

from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event

from pacs.archive import Archive
from pacs.errors import PacsError
from pacs.index.ingest import Outcome

log = logging.getLogger(__name__)

SUCCESS = 0x0000
UNEXPECTED_FAILURE = 0xC211  # Cannot understand: unexpected error in the SCP


def handle_echo(event: Event) -> int:
    """C-ECHO: always Success (PS3.4 A.4)."""
    return SUCCESS


def handle_store(event: Event, archive: Archive) -> int:
    """C-STORE (PS3.4 B.2.3) through pynetdicom; see :func:`store`."""
    request = cast(C_STORE, event.request)
    return store(
        archive,
        request.DataSet.getvalue(),  # type: ignore[union-attr]
        transfer_syntax_uid=str(event.context.transfer_syntax),
        sop_class_uid=str(event.context.abstract_syntax),
        sop_instance_uid=str(request.AffectedSOPInstanceUID or ""),
        calling_ae_title=event.assoc.requestor.ae_title.strip(),
    )


def store(
    archive: Archive,
    encoded: bytes,
    *,
    transfer_syntax_uid: str,
    sop_class_uid: str,
    sop_instance_uid: str,
    calling_ae_title: str,
) -> int:
    """Store one received dataset; the C-STORE status for it (also the direct storage path's).

    Returns 0x0000 once the file is durable and indexed (also for a re-sent identical
    instance, and for a re-sent different one that was quarantined); 0xA700 storage full or
    unwritable; 0xA701 index unavailable; 0xA900 dataset does not match the SOP class or the
    request; 0xC210 dataset cannot be decoded; 0xC211 unexpected error.
    """
    try:
        outcome = archive.ingest(
            encoded,
            transfer_syntax_uid=transfer_syntax_uid,
            sop_class_uid=sop_class_uid,
            sop_instance_uid=sop_instance_uid,
            calling_ae_title=calling_ae_title,
        )
    except PacsError as exc:
        log.warning("C-STORE from %s refused with 0x%04X: %s", calling_ae_title,
                    exc.dimse_status, exc.reason)
        return exc.dimse_status
    except Exception:
        log.exception("C-STORE from %s failed unexpectedly", calling_ae_title)
        return UNEXPECTED_FAILURE
    if outcome is not Outcome.STORED:
        log.info("C-STORE from %s: %s", calling_ae_title, outcome.value)
    return SUCCESS
