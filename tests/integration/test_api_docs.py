"""/docs works on a sealed network: Swagger UI from the package, no inline script."""

from __future__ import annotations

import re

import httpx2

from tests.support import Server


def test_docs_load_only_from_this_server(server: Server) -> None:
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        page = browser.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "cdn" not in page.text and "//" not in page.text.replace("://", "")
        # Every script has a src: nothing inline for the policy to refuse.
        scripts = re.findall(r"<script\b([^>]*)>", page.text)
        assert scripts and all("src=" in attributes for attributes in scripts)
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert "/static/swagger/swagger-ui-bundle.js" in assets
        assert "/static/swagger-init.js" in assets
        for asset in assets:
            assert asset.startswith("/") and not asset.startswith("//"), asset
            answer = browser.get(asset)
            assert answer.status_code == 200, asset
        types = {
            "/static/swagger/swagger-ui-bundle.js": "javascript",
            "/static/swagger/swagger-ui.css": "text/css",
            "/static/swagger-init.js": "javascript",
        }
        for asset, kind in types.items():
            assert kind in browser.get(asset).headers["content-type"], asset
        init = browser.get("/static/swagger-init.js").text
        assert "validatorUrl: null" in init and "http" not in init
        assert 'data-openapi-url="/openapi.json"' in page.text
        assert browser.get("/openapi.json").status_code == 200
        # Only the bundle's assets: not its demo page, nothing outside it.
        assert browser.get("/static/swagger/index.html").status_code == 404
        assert browser.get("/static/swagger/..%2F__init__.py").status_code == 404
        assert browser.get("/redoc").status_code == 404
        # The pages' own static files are still served beside it.
        assert browser.get("/static/tidegate.css").status_code == 200
