"""The browser app at `/`, and the API's docs pages, served from files inside the package.

The app (web/, built into `fitboard/web_dist`) is a client of the public interface like any
other: it only calls /v1 and /socket.io. It is served as the router's fallback, so it answers
only what no API route matches (an API path's 405 stays a 405), and never a path under /v1,
/socket.io, the docs, the metrics or the health checks, which keep the API's JSON 404. Any
other GET that names no file gets index.html, where the app routes on the client.

/docs and /redoc load Swagger UI and ReDoc from `web_dist/docs-assets` (copied from npm at
build time), so they work without internet.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

WEB_DIST = Path(__file__).resolve().parents[2] / "web_dist"
DOCS_ASSETS = "/docs-assets"
OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# Where live updates (Socket.IO) are mounted: the path the official clients use by default.
SOCKET_IO_PATH = "/socket.io"

# Paths that belong to the API: a miss there is the API's JSON 404, never the app's page.
API_PREFIXES = (
    "/v1",
    SOCKET_IO_PATH,
    DOCS_URL,
    REDOC_URL,
    OPENAPI_URL,
    "/metrics",
    "/healthz",
    "/readyz",
)

# The app loads only its own files and talks only to its own origin ('self' covers the
# same-origin websocket of Socket.IO).
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# ReDoc's page: its scripts and styles are its own (styled-components inserts styles, a
# worker starts from a blob), and nothing may come from elsewhere: its sidebar would
# otherwise fetch Redocly's logo from their CDN.
REDOC_CSP = (
    "default-src 'self'; script-src 'self' blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'"
)
# Vite puts a content hash in every name under assets/: a new build has new names.
IMMUTABLE = "public, max-age=31536000, immutable"


def is_api_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES)


def install(app: FastAPI, *, docs: bool) -> None:
    """Serve the docs pages (when `docs`) and the app; call after every API route is added."""
    if docs:
        _install_docs(app)
    index = WEB_DIST / "index.html"
    if not index.is_file():
        log.warning("the browser app is not built (%s is missing); `/` answers 404", index)
        return
    files = StaticFiles(directory=WEB_DIST, check_dir=False)
    not_found = app.router.default

    async def app_or_not_found(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or is_api_path(path):
            await not_found(scope, receive, send)
            return
        relative = path.lstrip("/")
        if relative:
            try:
                response = await files.get_response(relative, scope)
            except HTTPException:
                # No such file: a path that names a file (it has a suffix) is a 404; any
                # other path is one of the app's own routes.
                if PurePosixPath(relative).suffix:
                    await not_found(scope, receive, send)
                    return
            else:
                immutable = relative.startswith("assets/")
                response.headers["cache-control"] = IMMUTABLE if immutable else "no-cache"
                response.headers["content-security-policy"] = APP_CSP
                await response(scope, receive, send)
                return
        page = FileResponse(
            index,
            media_type="text/html",
            headers={"cache-control": "no-cache", "content-security-policy": APP_CSP},
        )
        await page(scope, receive, send)

    app.router.default = app_or_not_found


def _install_docs(app: FastAPI) -> None:
    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=base + OPENAPI_URL,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{base}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{base}{DOCS_ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=base + OAUTH2_REDIRECT_URL,
            # Swagger UI would otherwise send the schema to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        page = get_redoc_html(
            openapi_url=base + OPENAPI_URL,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{base}{DOCS_ASSETS}/favicon-32x32.png",
            with_google_fonts=False,
        )
        page.headers["content-security-policy"] = REDOC_CSP
        return page
