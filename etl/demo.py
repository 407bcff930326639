"""``qidash demo``: load the bundled real demo data through the product's own pipeline.

The files in ``etl/demo_data`` (derived once from ../shared/data by ``data/build_demo.py``; sources
and licences in ``data/README.md``) are loaded with :func:`etl.pipeline.run_load`, exactly as an
analyst would load them: organisations, indicator definitions (a folder of YAML files), then
values. Loading is idempotent, so running the demo twice reports ``unchanged``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from core.db import ensure_schema
from etl.pipeline import LoadResult, run_load

DEMO_DIR = Path(__file__).resolve().parent / "demo_data"  # shipped in the wheel too

#: (kind, path relative to DEMO_DIR), in load order
DEMO_FILES = (
    ("organisations", "organisations.csv"),
    ("indicators", "indicators"),
    ("values", "values_immunisations.csv"),
    ("values", "values_ae.csv"),
)


class DemoError(RuntimeError):
    """The demo data are missing or were rejected (a packaging fault, not a user's)."""


def run_demo(engine: Engine, demo_dir: Path = DEMO_DIR, user: str = "qidash demo") -> list[
        LoadResult]:
    """Load every demo file in order; raises :class:`DemoError` if one is rejected."""
    missing = [name for _, name in DEMO_FILES if not (demo_dir / name).exists()]
    if missing:
        raise DemoError(f"demo data not found in {demo_dir}: {', '.join(missing)} (reinstall "
                        "qidash, or rebuild them with python data/build_demo.py)")
    ensure_schema(engine)
    results = []
    for kind, name in DEMO_FILES:
        result = run_load(engine, demo_dir / name, kind=kind, user=user, migrate=False)
        results.append(result)
        if result.status == "rejected":
            first = result.errors[0].as_dict() if result.errors else {}
            raise DemoError(f"demo file {name} was rejected: {result.message} {first}")
    return results
