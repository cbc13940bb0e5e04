"""videohub: a city video + AI hub."""

__version__ = "0.1.0"
