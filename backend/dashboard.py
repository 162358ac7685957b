"""The dashboard: `GET /` and its static files (plain HTML, CSS and JavaScript, no build step).

It is served by the API's own app so that the page and the API share one origin: the page calls the
same JSON routes and websockets as any client, and needs no CORS or configuration. Everything live on
the page comes from the websockets (docs/design.md, rule 7); the server renders nothing but the files.
"""

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
# Task titles, prompts and errors are user text: the page only ever sets them as text, and this policy
# keeps any script but the page's own from running should that ever slip.
_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"}

FILES = frozenset(p.name for p in STATIC.iterdir() if p.is_file())

dashboard_routes = web.RouteTableDef()


@dashboard_routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=HEADERS)


@dashboard_routes.get("/static/{name}")
async def static(request: web.Request) -> web.FileResponse:
    """Only the files shipped in backend/static (a fixed list, so no path is built from the request);
    `no-cache` revalidates them, so a page never runs an old app.js after an upgrade."""
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers=HEADERS)
