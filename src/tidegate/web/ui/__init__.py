"""The web UI: server-rendered pages (Jinja2, htmx for live parts), assets in the package.

Each page module has a `router`; `ROUTERS` lists them for the app. `/static` serves
`STATIC`: htmx (vendored from the npm package htmx.org, 0BSD) and our stylesheet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from tidegate.web.ui import signin

STATIC = Path(__file__).with_name("static")

ROUTERS: tuple[APIRouter, ...] = (signin.router,)
