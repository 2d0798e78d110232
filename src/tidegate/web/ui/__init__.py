"""The web UI: server-rendered pages (Jinja2, htmx for live parts), assets in the package.

Each page module has a `router`; `ROUTERS` lists them for the app. `/static` serves
`STATIC`: htmx (vendored from the npm package htmx.org, 0BSD) and our stylesheet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from tidegate.web.ui import (
    admin,
    admin_users,
    apidocs,
    approvals,
    events,
    run_actions,
    run_views,
    runs,
    signin,
    workflows,
)

STATIC = Path(__file__).with_name("static")

# `runs` before `run_views`: /runs/rows is not a run id.
ROUTERS: tuple[APIRouter, ...] = (
    signin.router,
    runs.router,
    run_views.router,
    run_actions.router,
    approvals.router,
    events.router,
    workflows.router,
    admin.router,
    admin_users.router,
    apidocs.router,  # /docs, and /static/swagger/… ahead of the /static mount
)
