"""One error shape: 404 with valid values, 422 naming the parameter, JSON 404 for unknown
routes, a clean 500; and CSV formula neutralisation."""

from __future__ import annotations

import pandas as pd
import pytest

from api.responses import csv_bytes, dumps

V = "/api/v1"


def _err(r, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message", "details"}
    assert body["error"]["status"] == status
    assert "Traceback" not in r.text
    return body["error"]


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("/indicators/nope", "imm"),
        ("/indicators/nope/comparison", "imm"),
        ("/indicators/imm/comparison?period=1999-01", "2024-12"),
        ("/indicators/imm/funnel?period=2030-01", "2024-12"),
        ("/indicators/imm/comparison?peers=parent:NOPE", "/organisations?q="),
        ("/indicators/imm/comparison?peers=group:missing", "saved groups"),
        ("/organisations/NOPE", "/organisations?q="),
        ("/organisations/NOPE/profile", "/organisations?q="),
        ("/organisations/A81001/indicators/nope/spc", "imm"),
        ("/organisations/A81001/profile?period=1990-01", "2024-12"),
        ("/networks/NOPE/triage", "/organisations?q="),
        ("/groups/none", "saved groups"),
        ("/loads/12345", "/loads"),
        ("/no/such/endpoint", "/api/docs"),
    ],
)
def test_not_found_lists_valid_values(client, url, needle):
    e = _err(client.get(V + url), 404)
    assert e["code"] == "not_found"
    assert needle in e["message"]


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/indicators/imm/comparison?confidence=90", "confidence"),
        ("/indicators/imm/comparison?confidence=abc", "confidence"),
        ("/indicators/imm/comparison?peers=cousin:X", "peers"),
        ("/indicators/imm/comparison?org_type=trust", "org_type"),
        ("/indicators/imm/comparison?benchmark=target&period_type=month", None),
        ("/indicators/ae_los/comparison?benchmark=target", "benchmark"),
        ("/indicators/imm/comparison?period_type=week", "period_type"),
        ("/indicators/imm/comparison?format=xml", "format"),
        ("/indicators/imm/comparison?similar_k=0&peers=similar:A81001", "similar_k"),
        ("/indicators/imm/comparison?peers=similar:PCN1", "peers"),
        ("/indicators/imm/funnel?overdispersion=maybe", "overdispersion"),
        ("/indicators/imm/opportunity?level=best", "level"),
        ("/indicators/prev/opportunity", "indicator_id"),
        ("/organisations?limit=0", "limit"),
        ("/organisations/A81001/indicators/imm/spc?fix_after=1", "fix_after"),
        ("/organisations/A81001/indicators/imm/spc?rebase=1999-01", "rebase"),
        ("/organisations/A81001/indicators/imm/spc?period_type=quarter", "period_type"),
        ("/organisations/A81001/profile?level=top", "level"),
        ("/loads/abc", "load_id"),
        ("/loads/88635017644780276722347646762455400448", "load_id"),  # found by schemathesis
        ("/organisations?offset=99999999999999999999999", "offset"),
    ],
)
def test_invalid_parameters_are_422_naming_the_parameter(client, url, param):
    r = client.get(V + url)
    if param is None:  # a valid combination in this list must answer
        assert r.status_code == 200
        return
    e = _err(r, 422)
    assert e["details"]["parameter"] == param
    assert e["message"]


def test_unserved_method_has_the_shape(client):
    # the /api catch-all answers any method the API does not serve, so nothing under /api
    # falls through to the dashboards mounted at "/": a path the API has under other methods
    # is 405 with the methods in Allow (OPTIONS lists them), an unknown path 404
    r = client.put(V + "/indicators")
    e = _err(r, 405)
    assert e["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, OPTIONS"
    e = _err(client.delete(V + "/indicators/imm"), 405)
    assert "DELETE is not allowed on /api/v1/indicators/imm" in e["message"]
    r = client.options(V + "/annotations/1")
    assert (r.status_code, r.headers["allow"]) == (204, "DELETE, OPTIONS")
    e = _err(client.put(V + "/no-such-thing"), 404)
    assert "PUT /api/v1/no-such-thing" in e["message"]


def test_unexpected_error_is_a_clean_500(client, monkeypatch, caplog):
    from core.services import indicators

    def boom(*_a, **_k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(indicators, "list_indicators", boom)
    e = _err(client.get(V + "/indicators"), 500)
    assert e["code"] == "internal_error"
    assert "secret" not in e["message"]
    assert any("unhandled error" in rec.message for rec in caplog.records)


def test_csv_neutralises_formulas():
    import csv
    import io

    frame = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx",
                                   "ok", None], "v": [1.0, float("nan"), 3, 4, 5, 6, 7, 8]})
    rows = list(csv.reader(io.StringIO(csv_bytes(frame).decode(), newline="")))
    assert rows[0] == ["name", "v"]
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)",
                                        "'\tx", "'\rx", "ok", ""]
    assert rows[2][1] == ""  # NaN is an empty cell
    assert rows[1][1] == "1.0"


def test_json_never_has_nan():
    body = dumps({"a": float("nan"), "b": [float("inf")], "c": pd.NA,
                  "d": pd.DataFrame({"x": [1.0, float("nan")]})})
    assert body == b'{"a":null,"b":[null],"c":null,"d":[{"x":1.0},{"x":null}]}'


def test_organisation_name_with_formula_in_csv(wclient, engine):
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from core.models import Organisation

    with Session(engine) as s:
        s.execute(update(Organisation).where(Organisation.code == "A81001")
                  .values(name="=cmd|' /C calc'!A0"))
        s.commit()
    r = wclient.get(V + "/indicators/imm/comparison?format=csv")
    assert "'=cmd|" in r.text
    assert ",=cmd" not in r.text
