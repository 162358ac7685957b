"""Keep every thespian socket on loopback, unless a cluster address is given explicitly.

thespian 4.0.1 binds its Admin and actor sockets to ('', port) — all interfaces — and speaks pickle on
them, which is remote code execution for anyone who can connect. THESPIAN_BASE_IPADDR only changes the
advertised address. We replace the bind address, once, at import; forked actors inherit the patch. A
multi-host convention (`--cluster-address`) moves both to that one address, which must be private.
"""

import ipaddress
import os

from thespian.system.transport import IPBase

LOOPBACK = "127.0.0.1"
_original_bind_args = IPBase.IPActorAddress.bindArgs
_address = LOOPBACK


def _bind_args(self: IPBase.IPActorAddress) -> tuple[tuple[str, int]]:
    return ((_address, self.bindname[1]),)


def apply(address: str = LOOPBACK) -> None:
    """Idempotent; call before the first ActorSystem(). Sockets bind, and are advertised, on `address`."""
    global _address
    _address = address
    os.environ["THESPIAN_BASE_IPADDR"] = address
    IPBase.IPActorAddress.bindArgs = property(_bind_args)


def applied() -> bool:
    return IPBase.IPActorAddress.bindArgs is not _original_bind_args


def bound_address() -> str:
    return _address


def refuse_public(address: str, allow_public: bool) -> str | None:
    """Why `address` may not carry actor traffic (thespian's pickles are unauthenticated), or None."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"cluster address {address!r} is not an IP address"
    if ip.version != 4:
        return f"cluster address {address!r} is not IPv4 (thespian's convention speaks IPv4)"
    if ip.is_unspecified:
        return "cluster address 0.0.0.0 would listen on every interface"
    if not (ip.is_private or ip.is_loopback) and not allow_public:
        return f"cluster address {address} is public: actors speak unauthenticated pickle (--allow-public)"
    return None


apply()
