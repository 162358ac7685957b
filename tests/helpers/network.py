"""This machine's network addresses, for tests of what listens where."""

import socket

import psutil


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine outside 127/8, if it has one."""
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family == socket.AF_INET and not addr.address.startswith("127."):
                return str(addr.address)
    return None
