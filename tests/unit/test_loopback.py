"""thespian's sockets are patched to bind loopback only; this fails if the patch is missing."""

import socket

from thespian.system.transport.IPBase import TCPv4ActorAddress

from actors.runtime import loopback


def test_the_patch_is_applied_on_import():
    assert loopback.applied()


def test_an_external_actor_address_binds_loopback():
    addr = TCPv4ActorAddress(None, 0, external=True)
    ((host, _port),) = addr.bindArgs
    assert host == "127.0.0.1"


def test_a_socket_bound_like_thespian_is_unreachable_from_other_interfaces():
    addr = TCPv4ActorAddress(None, 0, external=True)
    with socket.socket() as server:
        server.bind(*addr.bindArgs)
        assert server.getsockname()[0] == "127.0.0.1"
