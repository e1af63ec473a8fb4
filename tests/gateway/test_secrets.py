"""The secret key: never a default, generated 0600 on first start, weak keys refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.auth.errors import WeakSecret
from gateway.auth.secrets import load_secret_key
from lienthong.settings import load_settings


def test_generated_on_first_start_with_0600_and_stable(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "d")
    first = load_secret_key(settings)
    path = tmp_path / "d" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and load_secret_key(settings) == first
    other = load_secret_key(load_settings(data_dir=tmp_path / "e"))
    assert other != first


@pytest.mark.parametrize("weak", ["changeme", "a" * 64, "0123456789" * 4, ""])
def test_weak_configured_key_is_refused(tmp_path: Path, weak: str) -> None:
    settings = load_settings(data_dir=tmp_path / "d", auth={"secret_key": weak})
    with pytest.raises(WeakSecret):
        create_app(settings)


def test_strong_configured_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    key = "kP3v9Qz7Lw2Xr8Tn5Jb4Hd6Fg1Ms0Ya_"
    settings = load_settings(data_dir=tmp_path / "d", auth={"secret_key": key})
    assert load_secret_key(settings) == key.encode()
    assert not (tmp_path / "d" / "secret_key").exists()
    assert "kP3v9" not in repr(settings)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "d")
    load_secret_key(settings)
    os.chmod(tmp_path / "d" / "secret_key", 0o644)
    with pytest.raises(WeakSecret, match="readable by others"):
        load_secret_key(settings)
