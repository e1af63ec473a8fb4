"""The cache of parsed instances behind frame and rendered requests (gateway.dicomweb.datasets)."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataelem import RawDataElement

from gateway.dicomweb.datasets import DatasetCache
from pacs.storage.filesystem import FilesystemStore

CT = "series/ct_head_ge_tilt/01.dcm"
SMALL = "modalities/dx_chest_canine_fuji.dcm"


def _store(tmp_path: Path, shared_dicom: Path, *names: str) -> tuple[FilesystemStore, list[str]]:
    store = FilesystemStore(tmp_path / "objects", tmp_path / "tmp")
    keys = [store.put([(shared_dicom / name).read_bytes()]).key for name in names]
    return store, keys


def test_a_cached_instance_is_parsed_once_and_fully_converted(
    tmp_path: Path, shared_dicom: Path
) -> None:
    store, (key,) = _store(tmp_path, shared_dicom, CT)
    cache = DatasetCache(64 * 1024**2)
    first = cache.read(store, key)
    store.delete(key)  # from now on only the cache can answer
    second = cache.read(store, key)
    assert second is first
    assert second.SOPInstanceUID == first.SOPInstanceUID
    raw = [e for e in second.iterall() if isinstance(e, RawDataElement)]
    assert raw == []  # shared between threads: nothing left to convert on first access


def test_least_recently_used_goes_first_when_the_budget_is_spent(
    tmp_path: Path, shared_dicom: Path
) -> None:
    store, (small, *cts) = _store(tmp_path, shared_dicom, SMALL, *[CT] * 8)
    cache = DatasetCache((shared_dicom / CT).stat().st_size * 8)  # the 8 CT copies, no more
    small_first = cache.read(store, small)
    first = [cache.read(store, key) for key in cts]  # the eighth pushes the small one out
    assert all(a is b for a, b in zip([cache.read(store, key) for key in cts], first, strict=True))
    assert cache.read(store, cts[0]) is first[0]  # now the most recently used
    assert cache.read(store, small) is not small_first  # read again, pushing out cts[1]
    assert cache.read(store, cts[0]) is first[0]
    assert cache.read(store, cts[1]) is not first[1]


def test_files_above_a_share_of_the_budget_and_a_zero_budget_are_not_kept(
    tmp_path: Path, shared_dicom: Path
) -> None:
    store, (ct,) = _store(tmp_path, shared_dicom, CT)
    too_small = DatasetCache((shared_dicom / CT).stat().st_size)
    assert too_small.read(store, ct) is not too_small.read(store, ct)
    off = DatasetCache(0)
    first = off.read(store, ct)
    assert first is not off.read(store, ct)
    assert first.SOPInstanceUID == off.read(store, ct).SOPInstanceUID
