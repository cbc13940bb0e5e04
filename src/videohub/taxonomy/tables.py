"""The code tables as strict pydantic models, one per data file.

A city's own file replaces a shipped one whole, so every table is validated on its own
(unique codes, known references) and the message names the file and the entry at fault.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from videohub.codes import validate_region_code


class TableModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(codes: list[str] | list[int], what: str) -> None:
    seen: set[str | int] = set()
    for code in codes:
        if code in seen:
            raise ValueError(f"{what} code {code!r} appears twice")
        seen.add(code)


class Minor(TableModel):
    """A minor category: the code an event stores, with its mappings to other standards."""

    code: str = Field(..., pattern=r"^[0-9A-Za-z_-]{1,16}$", description="Minor category code (event key).")
    name_zh: str = Field(..., min_length=1, description="Chinese name.")
    name_en: str = Field(..., min_length=1, description="English name.")
    gbt30428: str | None = Field(None, description="Digital city-management (GB/T 30428) code, where one exists.")
    gb28181_alarm: int | None = Field(
        None, ge=1, le=99, description="GB/T 28181 video alarm type (alarm method 5) this class corresponds to."
    )
    onvif: list[str] = Field(default_factory=list, description="ONVIF analytics object types (Fire, Smoke, ...).")


class Major(TableModel):
    """A major category and its minors."""

    code: str = Field(..., pattern=r"^[0-9A-Za-z_-]{1,16}$", description="Major category code.")
    name_zh: str = Field(..., min_length=1, description="Chinese name.")
    name_en: str = Field(..., min_length=1, description="English name.")
    gbt30428: str | None = Field(None, description="Digital city-management (GB/T 30428) major code, if any.")
    minors: list[Minor] = Field(..., min_length=1, description="The minor categories of this class.")


class CategoriesFile(TableModel):
    majors: list[Major] = Field(..., min_length=1, description="Major categories with their minors.")

    @model_validator(mode="after")
    def _codes_unique(self) -> CategoriesFile:
        majors = [m.code for m in self.majors]
        minors = [n.code for m in self.majors for n in m.minors]
        _unique(majors, "major category")
        # Minor and major codes share one namespace: a filter `category=X` must mean one thing.
        _unique(minors + majors, "category")
        return self


class Level(TableModel):
    code: int = Field(..., ge=1, le=9, description="Level number; 1 is the most serious.")
    name_zh: str = Field(..., min_length=1, description="Chinese name.")
    name_en: str = Field(..., min_length=1, description="English name.")
    color: str = Field(..., min_length=1, description="Signal colour (red, orange, yellow, blue, green).")


class LevelsFile(TableModel):
    levels: list[Level] = Field(..., min_length=1, description="Event levels.")

    @model_validator(mode="after")
    def _codes_unique(self) -> LevelsFile:
        _unique([x.code for x in self.levels], "level")
        return self


class Source(TableModel):
    code: str = Field(..., pattern=r"^[a-z0-9_]{1,32}$", description="Stable source code.")
    name_zh: str = Field(..., min_length=1, description="Chinese name.")
    name_en: str = Field(..., min_length=1, description="English name.")


class SourcesFile(TableModel):
    sources: list[Source] = Field(..., min_length=1, description="Event sources.")

    @model_validator(mode="after")
    def _codes_unique(self) -> SourcesFile:
        _unique([x.code for x in self.sources], "source")
        return self


class Status(TableModel):
    code: int = Field(..., ge=1, le=999, description="Status number; the process runs in ascending order.")
    name_zh: str = Field(..., min_length=1, description="Chinese name.")
    name_en: str = Field(..., min_length=1, description="English name.")
    initial: bool = Field(False, description="The status every new event starts in (exactly one).")
    closed: bool = Field(False, description="The status that closes an event (exactly one).")
    next: list[int] = Field(..., description="Statuses an event may move to from this one.")
    close_reasons: list[str] = Field(
        default_factory=list,
        description="Reasons allowed when closing from this status; the first is the default.",
    )


class CloseReason(TableModel):
    code: str = Field(..., pattern=r"^[a-z0-9_]{1,32}$", description="Close reason code.")
    name_zh: str = Field(..., min_length=1, description="Chinese name.")
    name_en: str = Field(..., min_length=1, description="English name.")


class StatusesFile(TableModel):
    statuses: list[Status] = Field(..., min_length=2, description="Statuses with their allowed next statuses.")
    close_reasons: list[CloseReason] = Field(..., min_length=1, description="Why an event was closed.")

    @model_validator(mode="after")
    def _consistent(self) -> StatusesFile:
        codes = [s.code for s in self.statuses]
        _unique(codes, "status")
        _unique([r.code for r in self.close_reasons], "close reason")
        reasons = {r.code for r in self.close_reasons}
        for flag in ("initial", "closed"):
            marked = [s.code for s in self.statuses if getattr(s, flag)]
            if len(marked) != 1:
                raise ValueError(f"exactly one status must be marked {flag}: true (found {marked or 'none'})")
        closed = next(s.code for s in self.statuses if s.closed)
        for s in self.statuses:
            unknown = [n for n in s.next if n not in codes]
            if unknown:
                raise ValueError(f"status {s.code}: next names unknown status(es) {unknown}")
            if s.code in s.next:
                raise ValueError(f"status {s.code}: an event cannot move to the status it is in")
            if closed in s.next and not s.close_reasons:
                raise ValueError(f"status {s.code} may close an event, so it needs close_reasons")
            bad = [r for r in s.close_reasons if r not in reasons]
            if bad:
                raise ValueError(f"status {s.code}: unknown close reason(s) {bad}")
        return self


RegionKind = Literal["province", "city", "district", "banner", "county", "development_zone", "town", "grid"]


class Region(TableModel):
    code: str = Field(..., description="GB/T 2260 code, or an extension of one (town, community, grid).")
    name_zh: str = Field(..., min_length=1, description="Chinese name.")
    name_en: str = Field(..., min_length=1, description="English name.")
    kind: RegionKind = Field(..., description="What sort of division this is.")
    extension: bool = Field(False, description="Not a GB/T 2260 code but a statistical/extension code.")
    children: list[Region] = Field(default_factory=list, description="Divisions inside this one.")

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return validate_region_code(v)


class RegionsFile(TableModel):
    regions: list[Region] = Field(..., min_length=1, description="Top-level divisions of the tree.")

    @model_validator(mode="after")
    def _codes_unique(self) -> RegionsFile:
        codes: list[str] = []
        stack = list(self.regions)
        while stack:
            r = stack.pop()
            codes.append(r.code)
            stack.extend(r.children)
        _unique(codes, "region")
        return self
