"""EXPLAIN the two read shapes of the value store on a loaded database.

    python bench/explain_reads.py URL [--indicator bench_05] [--org-code CODE]

1. one indicator and period across organisations (the comparison endpoint's query, as
   core.services sends it on PostgreSQL: the values packed into one bytea);
2. one organisation across indicators and periods (a profile's values, with the slugs), and
   one organisation's series of one indicator (an SPC chart).
PostgreSQL: EXPLAIN (ANALYZE, BUFFERS, COSTS OFF), run twice (the second, warm, is printed);
SQLite: EXPLAIN QUERY PLAN.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--indicator", default="bench_05")
    ap.add_argument("--org-code")
    args = ap.parse_args()
    from sqlalchemy import text

    from core.db import make_engine

    engine = make_engine(args.url)
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as c:
        period = c.execute(text(
            "SELECT MAX(period_id) FROM indicator_values WHERE ikey = "
            "(SELECT ikey FROM indicators WHERE id = :i)"), {"i": args.indicator}).scalar()
        org = c.execute(text(
            "SELECT id FROM organisations WHERE code = :c"), {"c": args.org_code}).scalar() \
            if args.org_code else c.execute(text(
                "SELECT org_id FROM indicator_values WHERE ikey = (SELECT ikey FROM indicators "
                "WHERE id = :i) AND period_id = :p ORDER BY org_id LIMIT 1 OFFSET 100"),
                {"i": args.indicator, "p": period}).scalar()
        ind = args.indicator
        shapes = [
            ("1. one indicator and period across organisations (comparison)",
             "SELECT string_agg(int4send(org_id) || float8send(coalesce(numerator, 'NaN')) || "
             "float8send(coalesce(denominator, 'NaN')) || float8send(coalesce(value, 'NaN')) || "
             "float8send(coalesce(lower_ci, 'NaN')) || float8send(coalesce(upper_ci, 'NaN')) || "
             "boolsend(coalesce(suppressed, false)), '') FROM indicator_values "
             f"WHERE ikey = (SELECT ikey FROM indicators WHERE id = '{ind}') "
             f"AND period_id = {period}" if pg else
             "SELECT org_id, numerator, denominator, value, lower_ci, upper_ci, suppressed "
             "FROM indicator_values WHERE ikey = (SELECT ikey FROM indicators WHERE id = "
             f"'{ind}') AND period_id = {period}"),
            ("2a. one organisation across indicators and periods (profile)",
             "SELECT v.org_id, i.id, v.period_id, v.numerator, v.denominator, v.value, "
             "v.lower_ci, v.upper_ci, v.suppressed FROM indicator_values v JOIN indicators i "
             f"ON i.ikey = v.ikey WHERE v.org_id IN ({org})"),
            ("2b. one organisation's series of one indicator (SPC)",
             "SELECT p.label, p.start_date, v.numerator, v.denominator, v.value, v.lower_ci, "
             "v.upper_ci, v.suppressed FROM indicator_values v JOIN periods p "
             f"ON p.id = v.period_id WHERE v.org_id = {org} AND v.ikey = (SELECT ikey FROM "
             f"indicators WHERE id = '{ind}') AND p.period_type = 'month' "
             "ORDER BY p.start_date"),
        ]
        n = c.execute(text("SELECT COUNT(*) FROM indicator_values")).scalar()
        print(f"{engine.dialect.name}: {n:,} values; indicator {ind}, period id {period}, "
              f"organisation id {org}")
        for title, sql in shapes:
            print(f"\n{title}\n")
            if pg:
                for _ in range(2):
                    plan = c.execute(text(
                        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)).scalars().all()
                print("\n".join("    " + line for line in plan))
            else:
                plan = c.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
                print("\n".join(f"    {r[-1]}" for r in plan))
    engine.dispose()


if __name__ == "__main__":
    main()
