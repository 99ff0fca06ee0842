"""The package version (single source of truth, read by the build backend)."""

__version__ = "0.1.0"
