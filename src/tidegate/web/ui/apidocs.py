"""`/docs`: the API's reference (Swagger UI), served from the package alone.

FastAPI's own page loads Swagger UI from a third-party host and starts it with an inline
script: that fails on a sealed network and under our policy (`script-src 'self'`). Here
the assets come from the `swagger-ui-bundle-v2` package (import name `swagger_ui_bundle`;
Swagger UI 5, as 4.x cannot read FastAPI's OpenAPI 3.1) under /static/swagger/, and the
page is started by a static file of ours (static/swagger-init.js). ReDoc is not bundled
anywhere we could serve it from, so /redoc is off.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from tidegate.web.ui.templating import page

router = APIRouter(include_in_schema=False)

SWAGGER = Path(str(swagger_ui_path))
# Only what the page uses (and the maps a browser's tools ask for): the directory also
# holds the bundle's own index page, which starts the petstore demo.
ASSETS = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.map",
        "swagger-ui.css",
        "swagger-ui.css.map",
        "favicon-16x16.png",
        "favicon-32x32.png",
    }
)
_CACHE = {"Cache-Control": "public, max-age=86400"}


@router.get("/docs")
async def docs(request: Request) -> Response:
    return page(request, "apidocs.html", None, openapi_url=request.app.openapi_url)


@router.get("/static/swagger/{name}")
async def swagger_asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, "not found")
    return FileResponse(SWAGGER / name, headers=_CACHE)
