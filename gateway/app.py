"""The HTTP application: ``create_app(settings)`` wires state, error handlers, metrics, routers.

State on ``app.state``: ``settings``; ``engine``; ``sessions`` (plain sessionmaker, for reads and
for routes framing their own ``with session.begin():``); ``write_sessions`` (the same engine,
but SQLite transactions take the write lock at BEGIN); ``audit_sessions`` (writer sessions for
the audit trail, whose commits do not wait for the disk: ``lienthong.db.relaxed_writer_engine``);
``secret_key`` (``gateway.auth.secrets``); ``archive`` (``pacs.archive``: the store, index
sessions and group committer that STOW-RS ingests through, exactly as the DICOM workers'
C-STORE does, and signed reports go back through it; WADO-RS and QIDO-RS read through its
sessions); ``datasets`` (recently parsed instance files, for frame and rendered requests:
``gateway.dicomweb.datasets``); ``viewer_files`` (the built web viewer, ``gateway.viewer``);
``patient_for_study`` (the Patient ID of a study UID, so that audit rows of study routes name
the patient).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway import dicomweb
from gateway.auth.secrets import load_secret_key
from gateway.errors import install_error_handlers
from gateway.headers import SecurityHeaders
from gateway.metrics import MetricsMiddleware
from gateway.routers import include_routers
from gateway.viewer import viewer_files
from lienthong.db import make_engine, make_sessionmaker, relaxed_writer_engine, writer_engine
from lienthong.settings import Settings
from pacs.archive import open_archive


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        archive.close()
        engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="Lienthong",
        version="0.1.0",
        description="PACS, DICOMweb and hospital integration API. Authenticate with "
        "`POST /api/auth/token` (bearer) or `POST /api/auth/login` (browser cookie).",
    )
    engine = make_engine(settings.effective_database_url)
    archive = open_archive(settings)
    app.state.settings = settings
    app.state.engine = engine
    app.state.archive = archive
    app.state.patient_for_study = dicomweb.patient_resolver(archive)
    app.state.datasets = dicomweb.DatasetCache(settings.dicomweb.dataset_cache_bytes)
    app.state.sessions = make_sessionmaker(engine)
    app.state.write_sessions = make_sessionmaker(writer_engine(engine))
    app.state.audit_sessions = make_sessionmaker(relaxed_writer_engine(engine))
    app.state.secret_key = load_secret_key(settings)
    app.state.viewer_files = viewer_files(settings)
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    dicomweb.install_errors(app)
    app.add_middleware(MetricsMiddleware)  # outermost: times everything below it
    include_routers(app)

    return app
