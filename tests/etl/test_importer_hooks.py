"""Pipeline hooks for the named importers, on both databases with the real national files:
attributes-only organisation loads (list sizes), placeholder names replaced by real ones, and
format options (``--option key=value``)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from core.db import get_engine
from etl.pipeline import UsageError, parse_format_options, run_load
from qidash.cli import app
from tests.etl.conftest import DATA

EPRACCUR = DATA / "gp_practice_national" / "epraccur.csv"
LIST_SIZES = DATA / "gp_practice_national" / "gp-reg-pat-prac-all_jan2021.csv"
QOF = DATA / "qof_ccg_2019_20" / "qof-1920-prev-ach-pca-ccg.xlsx"

runner = CliRunner()


def cli(*args: str) -> tuple[int, dict]:
    res = runner.invoke(app, [*args, "--json"])
    return res.exit_code, json.loads(res.stdout)


def org(code: str) -> dict:
    with get_engine().connect() as conn:
        row = conn.execute(text(
            "SELECT o.name, o.org_type, p.code AS parent, o.is_active, o.attributes, o.load_id "
            "FROM organisations o LEFT JOIN organisations p ON p.id = o.parent_id "
            "WHERE o.code = :c"), {"c": code}).mappings().one()
    out = dict(row)
    if isinstance(out["attributes"], str):  # SQLite returns the JSON text
        out["attributes"] = json.loads(out["attributes"])
    return out


def test_list_sizes_merge_attributes_only(database_url):
    """`qidash load organisations gp-reg-pat-prac-all_jan2021.csv --format list-sizes` on a
    database holding the ODS practices: list sizes merged into the practices' attributes,
    nothing else changed; codes not in the database are row errors, never new organisations."""
    code, out = cli("load", "organisations", str(EPRACCUR), "--format", "ods-practices")
    assert (code, out["status"], out["rows_read"]) == (0, "loaded", 8641)
    before = org("A84002")
    with get_engine().connect() as conn:
        n_orgs = conn.execute(text("SELECT COUNT(*) FROM organisations")).scalar_one()

    code, out = cli("load", "organisations", str(LIST_SIZES), "--format", "list-sizes")
    # 17 practices of the list-size file are not GP practices of prescribing setting 4
    assert (code, out["status"], out["rows_rejected"]) == (1, "rejected", 17)
    first = out["errors"][0]
    assert (first["line"], first["column"], first["value"]) == (142, "org_code", "Y02157")
    assert "unknown organisation 'Y02157'" in first["message"]
    assert org("A84002") == before  # rejected whole: untouched

    code, out = cli("load", "organisations", str(LIST_SIZES), "--format", "list-sizes",
                    "--skip-invalid")
    assert (code, out["status"], out["rows_updated"], out["rows_inserted"],
            out["rows_rejected"]) == (0, "loaded", 6641, 0, 17)
    after = org("A84002")
    assert after["attributes"] == {**before["attributes"], "list_size": 5903,
                                   "list_size_date": "2021-01-01"}
    assert {k: after[k] for k in ("name", "org_type", "parent", "is_active")} == {
        k: before[k] for k in ("name", "org_type", "parent", "is_active")}
    assert after["load_id"] == out["load_id"]
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM organisations")).scalar_one() == n_orgs
    code, out = cli("load", "organisations", str(LIST_SIZES), "--format", "list-sizes",
                    "--skip-invalid")
    assert (code, out["status"], out["rows_unchanged"]) == (0, "unchanged", 6641)

    # with every prescribing setting (an --option of the ods-practices reader) all are known
    code, out = cli("load", "organisations", str(EPRACCUR), "--format", "ods-practices",
                    "--option", "include_all_settings=true")
    assert (code, out["rows_read"]) == (0, 15663)
    code, out = cli("load", "organisations", str(LIST_SIZES), "--format", "list-sizes")
    assert (code, out["status"], out["rows_updated"], out["rows_rejected"]) == (0, "loaded", 17, 0)
    assert org("Y02157")["attributes"]["list_size"] == 1
    assert org("A84002") == after  # epraccur again: the list size attributes are kept


def test_placeholder_names_replaced_nothing_else(database_url):
    """A commissioner created from epraccur is named by its code; a later QOF load (which
    creates missing organisations) gives it its real name and changes nothing else, and never
    renames an organisation that already has a real name."""
    assert cli("load", "organisations", str(EPRACCUR), "--format", "ods-practices")[0] == 0
    before = org("16C")
    assert (before["name"], before["org_type"]) == ("16C", "sub_icb")
    code, out = cli("load", "values", str(QOF), "--format", "qof")
    assert (code, out["status"]) == (0, "loaded"), out
    after = org("16C")
    assert after["name"] == "NHS Tees Valley CCG"
    assert {k: after[k] for k in ("org_type", "parent", "is_active", "attributes")} == {
        k: before[k] for k in ("org_type", "parent", "is_active", "attributes")}


def test_placeholder_parent_named_by_organisations_file(engine, write):
    """In an organisations file, a parent that is not a row of it but carries parent_name
    renames a placeholder parent; a real name is never overwritten that way."""
    first = write("a.csv", "org_code,name,org_type,parent_code,parent_name,parent_type\n"
                           "P1,One,practice,07L,07L,sub_icb\n")
    assert run_load(engine, first, kind="organisations").status == "loaded"
    later = write("b.csv", "org_code,name,org_type,parent_code,parent_name,parent_type\n"
                           "P2,Two,practice,07L,NHS Crawley CCG,sub_icb\n")
    result = run_load(engine, later, kind="organisations")
    assert (result.status, result.rows_inserted, result.preview["renamed_organisations"]) == (
        "loaded", 1, 1)
    other = write("c.csv", "org_code,name,org_type,parent_code,parent_name,parent_type\n"
                           "P3,Three,practice,07L,Somewhere Else,sub_icb\n")
    assert run_load(engine, other, kind="organisations").preview["renamed_organisations"] == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM organisations WHERE code = '07L'")
                            ).scalar_one() == "NHS Crawley CCG"


def test_format_options_parsing():
    assert parse_format_options(["sexes=Male,Female", "include-all-settings=true",
                                 "period = 2019-20", "flag=no"]) == {
        "sexes": "Male,Female", "include_all_settings": True, "period": "2019-20",
        "flag": False}
    for bad in ("novalue", "=x", "1a=b"):
        with pytest.raises(UsageError, match="key=value"):
            parse_format_options([bad])
    res = runner.invoke(app, ["load", "values", str(QOF), "--option", "oops", "--json"])
    assert res.exit_code == 2
    assert "key=value" in json.loads(res.stdout)["message"]


def test_api_upload_option_fields(database_url):
    """POST /loads takes the same options as repeatable ``option`` form fields."""
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session

    from api.app import create_api
    from core import auth

    with Session(get_engine()) as s:
        _info, token = auth.create_token(s, "hooks-analyst", "analyst")
        s.commit()
    head = b"".join(EPRACCUR.read_bytes().splitlines(keepends=True)[:300])  # 3 of setting 8
    client = TestClient(create_api(), raise_server_exceptions=False)

    def upload(*options: str):
        return client.post(
            "/api/v1/loads", files={"file": ("epraccur.csv", head, "text/csv")},
            data={"kind": "organisations", "format": "ods-practices", "dry_run": "true",
                  "option": list(options)},
            headers={"Authorization": f"Bearer {token}"})

    assert upload().json()["rows_read"] == 297
    r = upload("include_all_settings=true")
    assert (r.status_code, r.json()["rows_read"]) == (200, 300), r.text
    bad = upload("include_all_settings")
    assert bad.status_code == 422
    assert "key=value" in bad.text
