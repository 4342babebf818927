"""Imports (contract §25): members from JSON lines, applied by the job queue."""

from __future__ import annotations

from chalicelib.api import schemas
from chalicelib.api.edge import Routes
from chalicelib.runtime import services

routes = Routes(__name__)


@routes.route("/imports", "POST", "admin", model=schemas.CreateImport, idempotent=True)
def create_import(actor, body, idem):
    return services().imports.start(idem, body)


@routes.route("/imports/{import_id}", "GET", "admin")
def get_import(actor, import_id):
    return services().imports.report(import_id)
