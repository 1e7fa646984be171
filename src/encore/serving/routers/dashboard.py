"""The dashboard: one page and its script, served by the app; plotly.js comes from the
installed plotly package, so the page works offline (no CDN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"


def plotly_js() -> Path:
    """The plotly.min.js the installed plotly package ships."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@router.get("/")
def root() -> RedirectResponse:
    """The dashboard."""
    return RedirectResponse("/dashboard")


@router.get("/dashboard")
def dashboard() -> HTMLResponse:
    """The dashboard page."""
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))


@router.get("/static/dashboard.js")
def script() -> FileResponse:
    """The dashboard's script."""
    return FileResponse(STATIC / "dashboard.js", media_type="text/javascript")


@router.get("/static/dashboard.css")
def style() -> FileResponse:
    """The dashboard's style sheet."""
    return FileResponse(STATIC / "dashboard.css", media_type="text/css")


@router.get("/static/plotly.min.js")
def plotly() -> FileResponse:
    """plotly.js, from the plotly package (cached by the browser for a day)."""
    return FileResponse(
        plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
    )
