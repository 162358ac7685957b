"""Keep every thespian socket on loopback.

thespian 4.0.1 binds its Admin and actor sockets to ('', port) — all interfaces — and speaks pickle on
them, which is remote code execution for anyone who can connect. THESPIAN_BASE_IPADDR only changes the
advertised address. We replace the bind address, once, at import; forked actors inherit the patch.
"""

import os

from thespian.system.transport import IPBase

LOOPBACK = "127.0.0.1"
_original_bind_args = IPBase.IPActorAddress.bindArgs


def _loopback_bind_args(self: IPBase.IPActorAddress) -> tuple[tuple[str, int]]:
    return ((LOOPBACK, self.bindname[1]),)


def apply() -> None:
    """Idempotent; call before the first ActorSystem()."""
    os.environ["THESPIAN_BASE_IPADDR"] = LOOPBACK
    IPBase.IPActorAddress.bindArgs = property(_loopback_bind_args)


def applied() -> bool:
    return IPBase.IPActorAddress.bindArgs is not _original_bind_args


apply()
