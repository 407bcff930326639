"""OpenAPI: every endpoint has a description and an example; docs are served."""

from __future__ import annotations


def test_every_operation_is_documented(client):
    spec = client.get("/api/openapi.json").json()
    components = spec["components"]["schemas"]
    # the exports routes (slide packs) are documented by their own module's tests
    ops = [(p, m, op) for p, item in spec["paths"].items() for m, op in item.items()
           if "exports" not in op.get("tags", [])]
    assert len(ops) >= 23
    for path, method, op in ops:
        assert op.get("description"), f"{method} {path} has no description"
        assert op.get("summary"), f"{method} {path} has no summary"
        examples = []
        for resp in op["responses"].values():
            for media in resp.get("content", {}).values():
                if "example" in media:
                    examples.append(media["example"])
                ref = media.get("schema", {}).get("$ref")
                if ref:
                    examples += components[ref.split("/")[-1]].get("examples", [])
        for param in op.get("parameters", []):
            if "examples" in param or "example" in param:
                examples.append(param)
        body = op.get("requestBody", {}).get("content", {})
        for media in body.values():
            if "example" in media:
                examples.append(media["example"])
            ref = media.get("schema", {}).get("$ref")
            if ref:
                examples += components[ref.split("/")[-1]].get("examples", [])
        assert examples, f"{method} {path} has no example"
    assert "/api/v1/indicators/{indicator_id}/comparison" in spec["paths"]
    assert client.get("/api/docs").status_code == 200


def test_docs_page_uses_the_bundled_swagger_ui(client):
    """No CDN: the CSP (script-src 'self') and offline networks would leave a blank page."""
    html = client.get("/api/docs").text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        url = f"/api/static/swagger-ui/{asset}"
        assert url in html
        r = client.get(url)
        assert r.status_code == 200
        assert len(r.content) > 100_000
    assert "cdn.jsdelivr.net" not in html
