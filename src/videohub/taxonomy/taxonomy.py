"""`Taxonomy`: the loaded code tables, with the look-ups and checks the event service needs.

Every check raises `TaxonomyError` naming the field and listing what is allowed, so an API
client that sent a wrong code learns the right ones from the error alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from videohub.codes import validate_region_code
from videohub.taxonomy.tables import (
    CategoriesFile,
    CloseReason,
    Level,
    LevelsFile,
    Major,
    Minor,
    Region,
    RegionsFile,
    Source,
    SourcesFile,
    Status,
    StatusesFile,
)

MAX_REGION_DIGITS = 18
"""6 (GB/T 2260) + 3 (town) + 3 (community) + 6 (grid): see `videohub.codes`."""


class TaxonomyError(ValueError):
    """A code that the tables do not hold; `allowed` lists the codes that would do."""

    def __init__(self, field: str, message: str, allowed: list[str] | None = None) -> None:
        self.field = field
        self.message = message
        self.allowed = allowed or []
        text = f"{field}: {message}"
        if self.allowed:
            text += f"; allowed: {', '.join(self.allowed)}"
        super().__init__(text)


class TransitionError(Exception):
    """A status change the state machine does not allow (the API answers 409)."""

    def __init__(self, from_status: int, to_status: int, allowed: list[int]) -> None:
        self.from_status, self.to_status, self.allowed = from_status, to_status, allowed
        nxt = ", ".join(str(a) for a in allowed) or "none (final status)"
        super().__init__(f"status {from_status} cannot move to {to_status}; allowed next statuses: {nxt}")


def region_prefix(code: str) -> str:
    """The prefix every code inside a division starts with: a 6-digit GB/T 2260 code ends in
    '00' pairs at province and city level (150100 holds 1501xx), an extended code is its
    own prefix."""
    if len(code) == 6:
        trimmed = code
        while trimmed.endswith("00") and len(trimmed) > 2:
            trimmed = trimmed[:-2]
        return trimmed
    return code


class Taxonomy:
    """The five tables (categories, levels, sources, statuses, regions) and their rules."""

    def __init__(
        self,
        categories: CategoriesFile,
        levels: LevelsFile,
        sources: SourcesFile,
        statuses: StatusesFile,
        regions: RegionsFile,
    ) -> None:
        self.categories: list[Major] = list(categories.majors)
        self.levels: list[Level] = list(levels.levels)
        self.sources: list[Source] = list(sources.sources)
        self.statuses: list[Status] = list(statuses.statuses)
        self.close_reasons: list[CloseReason] = list(statuses.close_reasons)
        self.regions: list[Region] = list(regions.regions)
        self._majors = {m.code: m for m in self.categories}
        self._minors = {n.code: (m, n) for m in self.categories for n in m.minors}
        self._levels = {x.code: x for x in self.levels}
        self._sources = {x.code: x for x in self.sources}
        self._statuses = {x.code: x for x in self.statuses}
        self._regions = {r.code: r for r in _walk(self.regions)}
        self.transitions: dict[int, list[int]] = {s.code: list(s.next) for s in self.statuses}
        self.initial_status: int = next(s.code for s in self.statuses if s.initial)
        self.closed_status: int = next(s.code for s in self.statuses if s.closed)

    # --- categories -------------------------------------------------------------------
    def minor(self, code: str) -> tuple[Major, Minor]:
        """The major and minor of a minor category code."""
        try:
            return self._minors[code]
        except KeyError:
            raise TaxonomyError("category_code", f"unknown minor category {code!r}", sorted(self._minors)) from None

    def category_filter(self, code: str) -> tuple[str, str]:
        """('major' | 'minor', code) for a filter value that may name either level."""
        if code in self._majors:
            return "major", code
        if code in self._minors:
            return "minor", code
        raise TaxonomyError("category", f"unknown category {code!r}", sorted(self._majors) + sorted(self._minors))

    # --- levels, sources, statuses ----------------------------------------------------
    def check_level(self, code: int, field: str = "level") -> int:
        if code not in self._levels:
            raise TaxonomyError(field, f"unknown level {code!r}", [str(c) for c in sorted(self._levels)])
        return code

    def check_source(self, code: str, field: str = "source") -> str:
        if code not in self._sources:
            raise TaxonomyError(field, f"unknown source {code!r}", list(self._sources))
        return code

    def check_status(self, code: int, field: str = "status") -> int:
        if code not in self._statuses:
            raise TaxonomyError(field, f"unknown status {code!r}", [str(c) for c in sorted(self._statuses)])
        return code

    def status(self, code: int) -> Status:
        return self._statuses[self.check_status(code)]

    def can_transition(self, from_status: int, to_status: int) -> bool:
        return to_status in self.transitions.get(from_status, [])

    def check_transition(self, from_status: int, to_status: int, close_reason: str | None) -> str | None:
        """Checks a status change and returns the close reason to record (None unless it
        closes the event). Raises TaxonomyError for unknown codes, TransitionError for a move
        the state machine does not allow."""
        self.check_status(to_status, "to_status")
        if not self.can_transition(from_status, to_status):
            raise TransitionError(from_status, to_status, self.transitions.get(from_status, []))
        if to_status != self.closed_status:
            if close_reason is not None:
                raise TaxonomyError("close_reason", f"only a move to the closed status {self.closed_status} has one")
            return None
        allowed = self._statuses[from_status].close_reasons
        if close_reason is None:
            return allowed[0]
        if close_reason not in allowed:
            raise TaxonomyError(
                "close_reason", f"{close_reason!r} is not a reason to close an event in status {from_status}", allowed
            )
        return close_reason

    # --- regions ----------------------------------------------------------------------
    def region(self, code: str) -> Region | None:
        """The deepest division of the table that holds `code` (itself, or the one it extends)."""
        for length in range(len(code), 5, -1):
            found = self._regions.get(code[:length])
            if found is not None:
                return found
        return None

    def check_region(self, code: str, field: str = "region_code") -> str:
        """A GB/T 2260 code of the table, or an extension (town, grid) of one of them."""
        try:
            validate_region_code(code)
        except ValueError as exc:
            raise TaxonomyError(field, str(exc).removeprefix("region_code ")) from None
        if self.region(code) is None:
            raise TaxonomyError(
                field, f"{code!r} is not a division of the table, nor an extension of one", sorted(self._regions)
            )
        return code

    def region_range(self, code: str) -> tuple[str, str]:
        """(low, high) such that every code inside the division lies in [low, high]: a range
        on plain digit strings uses an ordinary index on SQLite and PostgreSQL alike, where
        LIKE 'x%' would need a special operator class."""
        self.check_region(code, "region")
        prefix = region_prefix(code)
        return prefix, prefix + "9" * (MAX_REGION_DIGITS - len(prefix))


def _walk(regions: list[Region]) -> Iterator[Region]:
    for r in regions:
        yield r
        yield from _walk(r.children)
