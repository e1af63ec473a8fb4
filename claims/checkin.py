"""The check-in notice (XML0, spec §2.1–§2.2, §9.3): built, checked against its XSD, signed with
the hospital's certificate like a claim file, and sent to the portal's check-in endpoint.

Check-in tells the insurer a covered episode has started (its first cost); it is never used for
assessment or payment, so it is sent on demand per episode and nothing waits on its receipt.
"""

from __future__ import annotations

from claims.build.checkin import build_checkin
from claims.build.document import serialise
from claims.errors import RuleViolations
from claims.portal.client import PortalClient, Receipt
from claims.records.episode import EpisodeRecord
from claims.sign import SigningKey, sign_document
from claims.validate.schema import schema, xsd_errors


def checkin_document(episodes: list[EpisodeRecord], key: SigningKey | None) -> bytes:
    """The XML0 document of ``episodes``, signed when ``key`` is given.

    Raises RuleViolations listing the XSD errors when a row cannot be sent as it is.
    """
    root = build_checkin(episodes)
    errors = xsd_errors(schema("XML0.xsd"), root)
    if errors:
        raise RuleViolations(list(errors))
    return serialise(sign_document(root, key) if key is not None else root)


def send_checkin(client: PortalClient, episodes: list[EpisodeRecord], key: SigningKey
                 ) -> Receipt:
    """Sign and send the check-in of ``episodes``; raises PortalError when unreachable."""
    return client.check_in(checkin_document(episodes, key))
