"""The standard code tables of city events (categories, levels, sources, statuses, regions):
data files shipped with the package, replaceable by a city's own (config `taxonomy.dir`)."""

from videohub.taxonomy.loader import DATA_DIR, TaxonomyLoadError, load_taxonomy
from videohub.taxonomy.taxonomy import Taxonomy, TaxonomyError, TransitionError, region_prefix

__all__ = [
    "DATA_DIR",
    "Taxonomy",
    "TaxonomyError",
    "TaxonomyLoadError",
    "TransitionError",
    "load_taxonomy",
    "region_prefix",
]
