"""/api/v1/cameras/{id}/rules: a camera's incident rules on their own.

The same rules are the `rules` field of the camera (POST/PATCH /api/v1/cameras); this
resource reads and replaces just them, through the same registry update, so a config-file
camera is read-only here too and a change applies at once without reconnecting the camera.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import ValidationError

from videohub.analytics.rulebook import check_rule_codes
from videohub.analytics.spec import RuleSpec
from videohub.api.deps import Camera, Runtime
from videohub.api.errors import validation_detail
from videohub.api.schemas import ErrorOut
from videohub.registry.service import CameraNotFound, CameraReadOnly

router = APIRouter(prefix="/api/v1/cameras", tags=["rules"])


@router.get("/{camera_id}/rules", response_model=list[RuleSpec], responses={404: {"model": ErrorOut}})
def get_rules(camera: Camera) -> list[RuleSpec]:
    return camera.spec.rules


@router.put(
    "/{camera_id}/rules",
    response_model=list[RuleSpec],
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def put_rules(camera_id: str, body: list[RuleSpec], runtime: Runtime) -> list[RuleSpec]:
    check_rule_codes(runtime.taxonomy, body)  # TaxonomyError: 422 listing the codes
    try:
        cam = runtime.registry.update(camera_id, {"rules": [r.model_dump(mode="json") for r in body]})
    except CameraNotFound:
        raise HTTPException(404, f"camera {camera_id!r} not found") from None
    except CameraReadOnly as exc:
        raise HTTPException(409, str(exc)) from None
    except ValidationError as exc:  # e.g. two rules with one id
        raise HTTPException(422, validation_detail(exc)) from None
    return cam.spec.rules
