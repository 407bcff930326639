"""Loading reference data: organisations (with their attributes and the placeholders named in
a values file) and indicator definitions, upserted inside the caller's transaction.

Nothing here commits: the pipeline owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, insert, select, update

from core.models import Indicator, Organisation
from etl.lookups import organisation_ids

log = logging.getLogger("qidash.etl")


# organisations -------------------------------------------------------------------------------
def upsert_organisations(
    conn: Connection, clean: pd.DataFrame, load_id: int | None
) -> tuple[int, int, int]:
    """Insert or update organisations in two passes (rows, then parents). Returns counts."""
    table = Organisation.__table__
    existing = {
        r.code: r for r in conn.execute(select(
            table.c.id, table.c.code, table.c.name, table.c.org_type, table.c.parent_id,
            table.c.is_active, table.c.attributes))
    }
    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = [{k: (None if _isna(v) else v) for k, v in r.items()}
                                  for r in clean.to_dict("records")]
    # parents named but absent everywhere are created from parent_name/parent_type
    codes_in_file = {r["org_code"] for r in rows}
    extra = {}
    for r in rows:
        p = r.get("parent_code")
        if p and p not in codes_in_file and p not in existing and p not in extra:
            extra[p] = {"org_code": p, "name": r.get("parent_name"),
                        "org_type": r.get("parent_type"), "parent_code": None,
                        "is_active": None, "attributes": {}}
    rows = list(extra.values()) + rows
    new_rows, changed_rows = [], []
    unchanged = 0
    for r in rows:
        old = existing.get(r["org_code"])
        attrs = dict(old.attributes or {}) if old is not None else {}
        attrs.update(r.get("attributes") or {})
        active = r.get("is_active")
        if old is None:
            new_rows.append({
                "code": r["org_code"], "name": r["name"], "org_type": r["org_type"],
                "is_active": True if active is None else bool(active), "attributes": attrs,
                "load_id": load_id, "updated_at": now,
            })
            continue
        active = old.is_active if active is None else bool(active)
        if (old.name, old.org_type, old.is_active, old.attributes or {}) != (
                r["name"], r["org_type"], active, attrs):
            changed_rows.append({
                "b_id": old.id, "name": r["name"], "org_type": r["org_type"],
                "is_active": active, "attributes": attrs, "load_id": load_id,
                "updated_at": now,
            })
    if new_rows:
        conn.execute(insert(table), new_rows)
    if changed_rows:
        conn.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                name=bindparam("name"), org_type=bindparam("org_type"),
                is_active=bindparam("is_active"), attributes=bindparam("attributes"),
                load_id=bindparam("load_id"), updated_at=bindparam("updated_at")),
            changed_rows,
        )
    ids = organisation_ids(conn)
    parent_changes = []
    changed_ids = {c["b_id"] for c in changed_rows}
    parent_only = 0
    for r in rows:
        p = r.get("parent_code")
        new_parent = ids[p] if p else None
        old = existing.get(r["org_code"])
        if old is not None and old.parent_id == new_parent:
            if old.id not in changed_ids:
                unchanged += 1
            continue
        if old is None and new_parent is None:
            continue
        parent_changes.append({"b_id": ids[r["org_code"]], "parent_id": new_parent,
                               "load_id": load_id})
        if old is not None and old.id not in changed_ids:
            parent_only += 1
    if parent_changes:
        conn.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                parent_id=bindparam("parent_id"), load_id=bindparam("load_id")),
            parent_changes,
        )
    return len(new_rows), len(changed_rows) + parent_only, unchanged


def merge_organisation_attributes(
    conn: Connection, attributes: dict[str, dict[str, Any]], load_id: int | None
) -> tuple[int, int]:
    """Merge free attributes into existing organisations (code -> attributes); nothing else
    changes. Returns (updated, unchanged)."""
    table = Organisation.__table__
    codes = sorted(attributes)
    existing: dict[str, Any] = {}
    for i in range(0, len(codes), 5000):
        existing.update({r.code: r for r in conn.execute(select(
            table.c.id, table.c.code, table.c.attributes).where(
                table.c.code.in_(codes[i:i + 5000])))})
    now = dt.datetime.now(dt.UTC)
    changed = []
    for code, new in attributes.items():
        old = existing[code]
        merged = {**(old.attributes or {}), **new}
        if merged != (old.attributes or {}):
            changed.append({"b_id": old.id, "attributes": merged, "load_id": load_id,
                            "updated_at": now})
    if changed:
        conn.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                attributes=bindparam("attributes"), load_id=bindparam("load_id"),
                updated_at=bindparam("updated_at")),
            changed,
        )
    return len(changed), len(attributes) - len(changed)


def name_placeholders(conn: Connection, names: dict[str, str], load_id: int | None) -> int:
    """Give organisations created with their code as name (a placeholder, e.g. a commissioner
    created from the ODS practice file) the real name a later file carries. An organisation
    whose name is not its code is never renamed this way. Returns how many were renamed."""
    table = Organisation.__table__
    wanted = {c: n.strip() for c, n in names.items()
              if c and isinstance(n, str) and n.strip() and n.strip() != c}
    if not wanted:
        return 0
    codes = sorted(wanted)
    ids = {}
    for i in range(0, len(codes), 5000):
        ids.update(dict(conn.execute(select(table.c.code, table.c.id).where(
            table.c.code.in_(codes[i:i + 5000]), table.c.name == table.c.code)).all()))
    if not ids:
        return 0
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        update(table).where(table.c.id == bindparam("b_id")).values(
            name=bindparam("name"), load_id=bindparam("load_id"),
            updated_at=bindparam("updated_at")),
        [{"b_id": i, "name": wanted[c][:300], "load_id": load_id, "updated_at": now}
         for c, i in ids.items()],
    )
    return len(ids)


def upsert_indicators(
    conn: Connection, clean: list[dict[str, Any]], load_id: int | None
) -> tuple[int, int, int]:
    """Insert or update indicator definitions by id. Returns (inserted, updated, unchanged)."""
    table = Indicator.__table__
    fields = [c.name for c in table.columns if c.name not in ("id", "load_id", "updated_at")]
    existing = {r.id: r for r in conn.execute(select(table))}
    now = dt.datetime.now(dt.UTC)
    new_rows, changed = [], []
    for ind in clean:
        row = {f: ind.get(f) for f in fields}
        old = existing.get(ind["id"])
        if old is None:
            new_rows.append({"id": ind["id"], **row, "load_id": load_id, "updated_at": now})
        elif any(_differs(getattr(old, f), row[f]) for f in fields):
            changed.append({"b_id": ind["id"], **row, "load_id": load_id, "updated_at": now})
    if new_rows:
        conn.execute(insert(table), new_rows)
    if changed:
        conn.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                **{f: bindparam(f) for f in [*fields, "load_id", "updated_at"]}),
            changed,
        )
    return len(new_rows), len(changed), len(clean) - len(new_rows) - len(changed)


def _isna(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return not np.isclose(float(a), float(b), rtol=0, atol=0)
    return a != b
