"""Error bodies that name what is wrong without echoing what was sent (a rejected stream
URL may carry a password)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from videohub.secrets import mask_text
from videohub.taxonomy import TaxonomyError


def _clean(errors: Sequence[Any]) -> list[dict[str, Any]]:
    cleaned = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        cleaned.append({"loc": loc, "msg": mask_text(str(err.get("msg", ""))), "type": err.get("type", "")})
    return cleaned


def validation_detail(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(e['loc'])}: {'unknown field' if e['type'] == 'extra_forbidden' else e['msg']}"
        for e in _clean(exc.errors())
    )


async def request_validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean(exc.errors())
    for e in errors:
        if e["type"] == "extra_forbidden":
            e["msg"] = "unknown field"
    summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
    return JSONResponse(status_code=422, content={"detail": summary, "errors": errors})


async def database_unavailable_handler(_request: Request, exc: Exception) -> JSONResponse:
    """A locked or unreachable database is a temporary condition, not a server bug: 503,
    and nothing was changed. SQLAlchemy's text names no parameters (hide_parameters)."""
    assert isinstance(exc, OperationalError)
    reason = str(exc.orig or exc).splitlines()[0]
    return JSONResponse(status_code=503, content={"detail": f"database unavailable: {mask_text(reason)}"})


async def pool_timeout_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Every database connection stayed busy for the pool's timeout (a burst of requests,
    event streams and webhook workers at once): temporary, nothing was changed, so 503 like
    an unavailable database, which a client retries, not 500."""
    assert isinstance(exc, PoolTimeout)
    return JSONResponse(
        status_code=503,
        content={"detail": "database unavailable: every connection is busy; try again shortly"},
        headers={"Retry-After": "1"},
    )


async def taxonomy_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """An unknown code, or a value the code tables refuse: 422 naming the field and listing
    the codes that would be accepted."""
    assert isinstance(exc, TaxonomyError)
    return JSONResponse(status_code=422, content={"detail": str(exc), "field": exc.field, "allowed": exc.allowed})
