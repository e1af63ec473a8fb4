"""Pacing of Pending responses so that a C-CANCEL is seen and memory stays bounded.

pynetdicom's association reactor reads incoming PDUs only when nothing is waiting to be sent.
A C-FIND handler that yields faster than the socket drains would therefore queue every
response (holding them all in memory) before the requester's C-CANCEL is even read. Every
``PACE_EVERY`` responses the handler waits for the send queue to empty and, if bytes have come
in, for the reactor to read them; only then does ``event.is_cancelled`` mean something.
"""

from __future__ import annotations

import time

from pynetdicom.events import Event

PACE_EVERY = 8
_POLL = 0.0002  # seconds between looks at the reactor's queues
_MAX_WAIT = 2.0  # a peer that stops reading must not hold the handler forever


def cancelled(event: Event, sent: int) -> bool:
    """True when the requester has cancelled; ``sent`` is the number of responses yielded."""
    if sent and sent % PACE_EVERY == 0:
        let_reactor_read(event)
    return bool(event.is_cancelled)


def let_reactor_read(event: Event) -> None:
    """Wait until the reactor has sent what is queued and read what has come in."""
    dul = event.assoc.dul
    deadline = time.monotonic() + _MAX_WAIT
    while not dul.to_provider_queue.empty():
        if time.monotonic() > deadline:
            return
        time.sleep(_POLL)
    socket = dul.socket
    while (socket is not None and socket.ready) or not dul.event_queue.empty():
        if time.monotonic() > deadline:
            return
        time.sleep(_POLL)
