"""Modality Worklist C-FIND SCP (PS3.4 K.4.1.2): open orders for the modality's station.

Statuses as for C-FIND: 0xFF00/0xFF01 Pending per entry, 0x0000, 0xFE00 cancelled, 0xA700 too
many entries, 0xA900 malformed identifier, 0xC000 unexpected error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, cast

from pydicom.dataset import Dataset
from pynetdicom.events import Event

from lienthong import audit
from pacs.archive import Archive
from pacs.errors import PacsError
from pacs.orders.worklist import SPS, find_worklist
from pacs.scp.audit import DicomAudit
from pacs.scp.identifiers import (
    Element,
    decode_identifier,
    element_text,
    filters_from,
    response,
    response_keys_of,
    set_value,
)
from pacs.scp.pending import PENDING, PENDING_UNSUPPORTED_KEYS, answer
from pacs.scp.status import FindResult, failure, log_failure

log = logging.getLogger(__name__)



def _step_request(identifier: Dataset) -> Dataset | None:
    """The requested Scheduled Procedure Step item; None when all its keys are wanted."""
    sequence = identifier.get(SPS)
    if not sequence:
        return None
    return cast(Dataset, sequence[0])


def _step_item(request: Dataset | None, values: dict[str, Any]) -> tuple[Dataset, list[str]]:
    item = Dataset()
    missing: list[str] = []
    if request is None:  # an empty sequence asks for every attribute of the item
        for keyword, value in values.items():
            set_value(item, keyword, value)
        return item, missing
    for element in request:
        if element.keyword in values:
            set_value(item, element.keyword, values[element.keyword], element.VR)
        else:
            item.add_new(element.tag, element.VR, None)
            missing.append(element.keyword)
    return item, missing


def handle_worklist_find(
    event: Event, archive: Archive, auditor: DicomAudit
) -> Iterator[FindResult]:
    calling = event.assoc.requestor.ae_title.strip()
    filters: dict[str, str] = {}
    try:
        identifier = decode_identifier(cast(Dataset, event.identifier))
        filters, _ = filters_from(identifier)
        step_request = _step_request(identifier)
        step_filters = {} if step_request is None else {
            el.keyword: element_text(el) for el in step_request if el.VR != "SQ" and el.keyword
        }
        with archive.sessions() as session:
            entries = find_worklist(
                session,
                filters,
                step_filters,
                fuzzy=archive.settings.query.fuzzy_person_names,
                max_results=archive.settings.query.max_results,
            )
        auditor.record(event, "C-FIND WORKLIST", audit.Outcome.SUCCESS, filters,
                       detail=f"{len(entries)} entr(ies)")
    except PacsError as exc:
        log_failure("worklist C-FIND", calling, exc)
        yield failure(exc.dimse_status, exc.reason), None
        return
    except Exception:
        log.exception("worklist C-FIND from %s failed unexpectedly", calling)
        yield failure(0xC000, "unexpected error"), None
        return
    log.info("worklist C-FIND from %s: %d entr(ies)", calling, len(entries))
    requested = response_keys_of(identifier)
    charset = identifier.get("SpecificCharacterSet")

    def pending() -> Iterator[tuple[int, list[Element]]]:
        for entry in entries:
            item, missing_in_step = _step_item(step_request, entry.pop(SPS))
            values = {k: v for k, v in entry.items() if k in filters}
            if SPS in identifier:
                values[SPS] = [item]
            elements, missing = response(requested, values, level=None, request_charset=charset)
            yield (PENDING_UNSUPPORTED_KEYS if missing or missing_in_step else PENDING), elements

    yield from answer(event, pending())
