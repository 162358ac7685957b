"""thespian's sockets are patched to bind loopback only; this fails if the patch is missing."""

import socket

from thespian.system.transport.IPBase import TCPv4ActorAddress

from actors import loopback


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


def test_thespian_never_renders_a_message_to_name_it():
    """Its debug text costs a pydantic repr per send and receive; the type name is enough."""
    from thespian.system.transport import ReceiveEnvelope, TransmitIntent

    from actors import thespian_tuning

    rendered = []

    class Costly:
        def __str__(self) -> str:
            rendered.append(self)
            return "costly"

        __repr__ = __str__

    thespian_tuning.apply()
    assert "Costly" in TransmitIntent(None, Costly()).identify()
    assert "Costly" in ReceiveEnvelope(None, Costly()).identify()
    assert rendered == []
