"""C-CANCEL of a C-FIND (PS3.4 C.4.1.2.3 / PS3.7 9.3.2.3), with a peer cancelling for real.

The series here has 2,000 instances (index rows, as a long CT or a big archive answer has):
the answer takes long enough to send that a cancel sent on the first response must arrive
before the last one, whatever the machine's speed. pynetdicom drops a C-CANCEL that arrives
before the handler starts, so the peers below cancel once the first response is in, as
findscu does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore

from bench.query.data import load_rows, studies
from lienthong.db import writer_engine
from tests.support.qr import RunningScp, findscu, start_scp

INSTANCES = 2000
# Little endian answers are written by pacs.scp.pending itself; big endian ones go through
# pynetdicom, response by response.
SYNTAXES = [ExplicitVRLittleEndian, ExplicitVRBigEndian]


@pytest.fixture(scope="module")
def big_series(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningScp, Dataset]]:
    running = start_scp(tmp_path_factory.mktemp("cancel") / "data",
                        query={"max_results": 2 * INSTANCES})
    (spec,) = studies(1)
    load_rows(writer_engine(running.archive.engine), [spec], 1, INSTANCES)
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = spec.study_uid
    query.SeriesInstanceUID = f"{spec.study_uid}.1"
    query.SOPInstanceUID = ""
    yield running, query
    running.stop()


def test_cancel_after_the_first_response_ends_with_0xfe00(
    big_series: tuple[RunningScp, Dataset],
) -> None:
    """pynetdicom as the peer, on a big-endian association (answered through pynetdicom).

    Little-endian answers are cancelled by findscu below: a pynetdicom peer runs in this
    process, beside the SCP, and competes with it for the GIL, so the direct writer can finish
    all 2,000 answers before the peer's thread gets to send its cancel.
    """
    running, query = big_series
    syntax = ExplicitVRBigEndian
    ae = AE("FINDSCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind, syntax)
    assoc = ae.associate("127.0.0.1", running.port, ae_title="LIENTHONG")
    assert assoc.is_established
    statuses: list[int] = []
    try:
        (context,) = assoc.accepted_contexts
        for status, _ in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind,
                                           msg_id=1):
            statuses.append(int(status.Status))
            if len(statuses) == 1:
                assoc.send_c_cancel(1, context.context_id)
        assert assoc.is_established  # the exchange ended by a status, not an abort
    finally:
        assoc.release()
    assert statuses[0] == 0xFF00
    assert statuses[-1] == 0xFE00, f"{len(statuses)} responses, last 0x{statuses[-1]:04X}"
    assert len(statuses) - 1 < INSTANCES


def test_findscu_cancel_is_honoured(big_series: tuple[RunningScp, Dataset]) -> None:
    """findscu (another process) cancels on the first response of the little-endian answer,
    which the SCP writes itself (pacs.scp.pending). A machine busy enough to keep findscu off
    the CPU while 2,000 answers go out could let one exchange end first, so up to three tries;
    an exchange that is not cancelled must then be complete and end with Success."""
    running, query = big_series
    logs = []
    for _ in range(3):
        result = findscu(running.port, ["QueryRetrieveLevel=IMAGE",
                                        f"StudyInstanceUID={query.StudyInstanceUID}",
                                        f"SeriesInstanceUID={query.SeriesInstanceUID}",
                                        "SOPInstanceUID"], extra=["--cancel", "1"])
        assert result.returncode == 0, result.log[-2000:]
        if "Received Final Find Response (Cancel: MatchingTerminatedDueToCancelRequest)" in (
            result.log
        ):
            assert 1 <= len(result.responses) < INSTANCES
            return
        assert "Received Final Find Response (Success)" in result.log, result.log[-2000:]
        assert len(result.responses) == INSTANCES
        logs.append(result.log[-1000:])
    pytest.fail("the C-CANCEL was not honoured in three tries:\n" + "\n".join(logs))


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_uncancelled_answer_is_complete(
    big_series: tuple[RunningScp, Dataset], syntax: UID
) -> None:
    """The same query without a cancel: every match arrives, then Success."""
    running, query = big_series
    ae = AE("FINDSCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind, syntax)
    assoc = ae.associate("127.0.0.1", running.port, ae_title="LIENTHONG")
    assert assoc.is_established
    try:
        answers = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
    finally:
        assoc.release()
    assert int(answers[-1][0].Status) == 0x0000
    uids = {str(ds.SOPInstanceUID) for _, ds in answers[:-1]}
    assert len(uids) == INSTANCES
    assert f"{query.SeriesInstanceUID}.{INSTANCES}" in uids
