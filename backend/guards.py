"""Guards against a hostile page in the user's own browser: DNS rebinding and cross-site requests.

The API listens on loopback with no token by default, and a browser on this machine carries any page's
requests there. Two checks run on every request, before the token and before any handler:

- `Host` (421 `host_not_allowed`). A page whose name its owner re-points at 127.0.0.1 (DNS rebinding) is
  same-origin with the API as far as the browser knows, but its requests still name it in `Host`. Only
  the names this server is reached by pass: `localhost`, loopback addresses, the `--host` listen address
  and CRUCIBLE_ALLOWED_HOSTS. Listening on a wildcard address (0.0.0.0, ::), any IP address passes too,
  and the machine's host name: the addresses that reach such a listener (interfaces, bridges, forwarded
  ports) cannot be listed reliably, and an address cannot be rebound, since a browser sends one as `Host`
  only when the page's own URL named it. The port is ignored. A request without `Host` (HTTP/1.0) passes:
  browsers always send one.
- `Origin` (403 `origin_not_allowed`). Browsers send it on every websocket handshake, every write and
  every cross-origin fetch, and no page can forge it. Whenever it is there it must be the server's own
  origin (the request's scheme and `Host`) or listed in CRUCIBLE_ALLOWED_ORIGINS; a cross-site read is
  refused too, which costs nothing, since without CORS the page could not read the answer anyway. A
  request without it (curl, scripts) passes.

docs/security.md says what else guards the server, and what nothing guards.
"""

import ipaddress
import socket
from dataclasses import dataclass

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from backend.errors import ApiError, Handler
from schemas.settings import Settings

Origin = tuple[str, str, int]  # scheme, host, port: what makes two origins the same
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
# What a refused client reads: enough for the user who must list a name, nothing about the server.
HOST_REFUSED = "the Host header names no host this server answers for (see CRUCIBLE_ALLOWED_HOSTS)"
ORIGIN_REFUSED = "requests from another site's pages are refused (see CRUCIBLE_ALLOWED_ORIGINS)"


def split_host(value: str) -> tuple[str, int | None] | None:
    """`host[:port]` (a Host header, an origin's authority) as the host, lowercase, without brackets or a
    trailing dot, and the port; None when malformed (which no browser sends)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, closed, rest = value[1:].partition("]")
        if not closed or _address(host) is None or (rest and rest[0] != ":"):
            return None
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = value.partition(":")
        host, port = host.removesuffix("."), port_text if colon else None
        if not host or not _NAME_CHARS.issuperset(host):
            return None
    if port is None:
        return host, None
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        return None
    return host, int(port)


def parse_origin(value: str) -> Origin | None:
    """An `Origin` header or a listed origin as (scheme, host, port), the port defaulted by the scheme;
    None for `null` (sandboxed frames, files) and anything else that is not http(s)://host[:port]."""
    scheme, sep, authority = value.strip().lower().partition("://")
    split = split_host(authority) if sep and scheme in DEFAULT_PORTS else None
    if split is None:
        return None
    host, port = split
    return scheme, host, DEFAULT_PORTS[scheme] if port is None else port


@dataclass(frozen=True)
class Policy:
    """Who may be served: by which names, and for which pages' origins besides the server's own."""

    names: frozenset[str]
    addresses: frozenset[Address]
    any_address: bool  # listening on a wildcard address
    origins: frozenset[Origin]

    @classmethod
    def of(cls, settings: Settings) -> "Policy":
        listen = settings.host.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")
        listen_address = _address(listen)
        wildcard = not listen or (listen_address is not None and listen_address.is_unspecified)  # 0.0.0.0, ::
        hosts = [split[0] for split in map(split_host, settings.allowed_host_list) if split is not None]
        hosts += [socket.gethostname().lower().removesuffix(".")] if wildcard else [listen]
        addresses = {a for a in map(_address, hosts) if a is not None}
        names = {"localhost", *(h for h in hosts if _address(h) is None)}
        origins = {o for o in map(parse_origin, settings.allowed_origin_list) if o is not None}
        return cls(frozenset(names), frozenset(addresses), wildcard, frozenset(origins))

    def admits_host(self, host: str) -> bool:
        if host in self.names:
            return True
        address = _address(host)
        return address is not None and (address.is_loopback or self.any_address or address in self.addresses)

    def admits_origin(self, origin: str, scheme: str, host: str, port: int | None) -> bool:
        """`origin` is the request's own (its scheme and Host) or a listed one."""
        given = parse_origin(origin)
        own = (scheme, host, DEFAULT_PORTS.get(scheme, 80) if port is None else port)
        return given is not None and (given == own or given in self.origins)


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def guard_middleware(settings: Settings) -> Middleware:
    """The middleware, with the policy worked out once from `settings`."""
    policy = Policy.of(settings)
    log = structlog.get_logger().bind(component="guards")

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get(hdrs.HOST)
        split = split_host(given) if given is not None else None
        if given is not None and (split is None or not policy.admits_host(split[0])):
            log.warning("request.refused", code="host_not_allowed", host=given[:200], path=request.path)
            raise ApiError(421, "host_not_allowed", HOST_REFUSED)
        origin = request.headers.get(hdrs.ORIGIN)
        host, port = split or ("", None)
        if origin is not None and not policy.admits_origin(origin, request.scheme, host, port):
            log.warning("request.refused", code="origin_not_allowed", origin=origin[:200], path=request.path)
            raise ApiError(403, "origin_not_allowed", ORIGIN_REFUSED)
        return await handler(request)

    return guard
