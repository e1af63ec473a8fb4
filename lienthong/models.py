"""Imports every package's ORM models so that Base.metadata knows every table (migrations)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "pacs.index.models",
    "pacs.peers",
    "pacs.reports.models",
    "lienthong.audit",
    "gateway.auth.models",
    "pacs.orders.models",
    "claims.records.models",
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
