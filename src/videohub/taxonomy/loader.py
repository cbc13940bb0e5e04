"""Loads the shipped code tables, each replaceable by a city's file of the same name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from videohub.config import format_validation_error
from videohub.taxonomy.tables import CategoriesFile, LevelsFile, RegionsFile, SourcesFile, StatusesFile
from videohub.taxonomy.taxonomy import Taxonomy

DATA_DIR = Path(__file__).parent / "data"

TABLES: dict[str, type[BaseModel]] = {
    "categories.yaml": CategoriesFile,
    "levels.yaml": LevelsFile,
    "sources.yaml": SourcesFile,
    "statuses.yaml": StatusesFile,
    "regions.yaml": RegionsFile,
}

T = TypeVar("T", bound=BaseModel)


class TaxonomyLoadError(Exception):
    """A table file that cannot be used; the message names the file and the entry."""


def _read(path: Path, model: type[T]) -> T:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyLoadError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise TaxonomyLoadError(f"{path}: not valid YAML: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise TaxonomyLoadError(format_validation_error(exc, str(path))) from None


def table_path(name: str, override_dir: str | Path | None = None) -> Path:
    """The file a table is read from: the city's own if it has one, else the shipped one."""
    if override_dir is not None:
        own = Path(override_dir) / name
        if own.is_file():
            return own
    return DATA_DIR / name


def load_taxonomy(override_dir: str | Path | None = None) -> Taxonomy:
    """The code tables; a file of the same name in `override_dir` replaces a shipped table
    whole (a city's categories are its own list, not a patch of ours)."""
    if override_dir is not None and not Path(override_dir).is_dir():
        raise TaxonomyLoadError(f"taxonomy.dir {override_dir}: not a directory")
    unknown = sorted(p.name for p in Path(override_dir).glob("*.yaml") if p.name not in TABLES) if override_dir else []
    if unknown:
        # A misnamed file would silently leave the shipped table in force.
        raise TaxonomyLoadError(
            f"taxonomy.dir {override_dir}: unknown table file(s) {', '.join(unknown)}; known: {', '.join(TABLES)}"
        )

    def read(model: type[T]) -> T:
        name = next(n for n, m in TABLES.items() if m is model)
        return _read(table_path(name, override_dir), model)

    return Taxonomy(
        categories=read(CategoriesFile),
        levels=read(LevelsFile),
        sources=read(SourcesFile),
        statuses=read(StatusesFile),
        regions=read(RegionsFile),
    )
