"""The optional bearer token (CRUCIBLE_TOKEN): without it every route but the open ones answers 401.

Open: `/v1/health` (probes and load balancers carry no credentials, and it tells nothing) and
`/v1/openapi.json` (the contract is public, and it is how a client learns that it must authenticate), and
the dashboard's page and files (they hold no data; the page asks for the token when the API says 401).
`/metrics` is guarded: Prometheus scrapes with a bearer token, and the figures describe the workload.
Everything else, unknown paths included, is guarded, so an unauthenticated client cannot even probe which
routes exist. Websockets take the header too, or `?token=` because browsers cannot set headers on them;
the query form is refused on plain requests, where it would end up in URLs that get logged and shared.
"""

import hmac

from aiohttp import hdrs, web

from backend.errors import ApiError, Handler
from backend.routes import RUNTIME

OPEN = frozenset({"/v1/health", "/v1/openapi.json", "/"})  # and the dashboard's files (no data in them)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    secret = request.app[RUNTIME].settings.token
    public = request.path in OPEN or request.path.startswith("/static/")
    if secret is None or public or _presented(request, secret.get_secret_value()):
        return await handler(request)
    raise ApiError(
        401,
        "unauthorized",
        "this server needs Authorization: Bearer <token>",
        headers={"WWW-Authenticate": 'Bearer realm="crucible"'},
    )


def _presented(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    if not given and request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
        given = request.query.get("token", "")
    # Bytes: compare_digest refuses non-ASCII str, and a header may hold anything.
    return hmac.compare_digest(given.strip().encode(errors="surrogatepass"), token.encode())
