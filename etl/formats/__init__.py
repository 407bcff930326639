"""Readers: one module per format, discovered lazily by name.

A reader module exposes ``read(source: Source, kind: str, options: ReadOptions) -> Extract`` and
may expose ``detect(source: Source) -> bool`` (does this file look like mine?) and ``KINDS`` (the
kinds it can read; default all three). Register a new format by adding its module here; a name
whose module is not written yet answers with a clear "format not available" error.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from etl.extract import FileError, Source

#: format name -> module (imported on first use)
READERS: dict[str, str] = {
    "canonical": "etl.formats.canonical",
    "mapping": "etl.formats.mapping",
    "fingertips": "etl.formats.fingertips",
    "qof": "etl.formats.qof",
    "nhse-ae": "etl.formats.nhse_ae",
    "ods-practices": "etl.formats.ods_practices",
    "list-sizes": "etl.formats.list_sizes",
}

#: named importers tried by ``detect_format`` before the canonical fallback
_DETECT_ORDER = ("fingertips", "qof", "nhse-ae", "ods-practices", "list-sizes")


class FormatError(ValueError):
    """An unknown or unavailable format name (a usage error: CLI exit 2, API 422)."""


def available_formats() -> list[str]:
    """Names of the formats whose reader module can be imported."""
    out = []
    for name in READERS:
        try:
            get_reader(name)
        except FormatError:
            continue
        out.append(name)
    return out


def get_reader(name: str) -> ModuleType:
    """The reader module for ``name`` (``canonical``, ``mapping``, ``fingertips``...)."""
    key = name.strip().lower().replace("_", "-")
    if key not in READERS:
        raise FormatError(
            f"unknown format {name!r}; use auto, " + ", ".join(READERS)
        )
    module_name = READERS[key]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise FormatError(
            f"format {key!r} is not available in this version of qidash (no reader module "
            f"{module_name}); use --format canonical or --mapping map.yaml"
        ) from None
    if not hasattr(module, "read"):
        raise FormatError(f"format {key!r}: reader module {module_name} has no read()")
    return module


def detect_format(source: Source, kind: str | None = None) -> str:
    """The format a file looks like: a named importer that recognises it, else ``canonical``."""
    for name in _DETECT_ORDER:
        try:
            module = get_reader(name)
        except FormatError:
            continue
        detect = getattr(module, "detect", None)
        kinds = getattr(module, "KINDS", None)
        if detect is None or (kind is not None and kinds is not None and kind not in kinds):
            continue
        try:
            if detect(source):
                return name
        except FileError:
            raise
        except Exception:  # a detector must never break loading of other formats
            continue
    return "canonical"


__all__ = ["READERS", "FormatError", "available_formats", "detect_format", "get_reader"]
