"""/api/v1/taxonomy: the code tables in force (shipped, or the city's own)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from videohub.api.deps import Runtime
from videohub.taxonomy.tables import CloseReason, Level, Major, Region, Source, Status

router = APIRouter(prefix="/api/v1/taxonomy", tags=["taxonomy"])


class TaxonomyOut(BaseModel):
    """Every code an event may carry, with names in Chinese and English."""

    model_config = ConfigDict(extra="forbid")

    categories: list[Major] = Field(..., description="Major categories with their minors and mappings.")
    levels: list[Level] = Field(..., description="Levels, 1 the most serious.")
    sources: list[Source] = Field(..., description="Where events come from.")
    statuses: list[Status] = Field(..., description="Statuses; `next` lists the allowed transitions.")
    close_reasons: list[CloseReason] = Field(..., description="Why an event was closed.")
    regions: list[Region] = Field(..., description="The division tree (GB/T 2260 codes).")


@router.get("", response_model=TaxonomyOut)
def get_taxonomy(runtime: Runtime) -> TaxonomyOut:
    tax = runtime.taxonomy
    return TaxonomyOut(
        categories=tax.categories,
        levels=tax.levels,
        sources=tax.sources,
        statuses=tax.statuses,
        close_reasons=tax.close_reasons,
        regions=tax.regions,
    )


@router.get("/regions", response_model=list[Region])
def get_regions(runtime: Runtime) -> list[Region]:
    """The division tree; towns and grids extend a code with more digits."""
    return runtime.taxonomy.regions
