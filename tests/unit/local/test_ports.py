from __future__ import annotations

import os
import socket

import pytest

from streamplane.errors import PortInUseError
from streamplane.local._ports import ensure_ports_free, ephemeral_port_range, port_is_free


def _free_low_port() -> int:
    """A free port below the ephemeral range (which ensure_ports_free refuses on purpose)."""
    for port in range(25000, 26000):
        if port_is_free(port):
            return port
    raise AssertionError("no free port in 25000-26000")


def test_taken_port_names_the_port_its_purpose_and_the_process() -> None:
    port = _free_low_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert not port_is_free(port)
        with pytest.raises(PortInUseError) as info:
            ensure_ports_free({port: "node 1 client listener"})
    assert info.value.port == port
    assert info.value.pid == os.getpid()
    message = str(info.value)
    assert f"port {port} (node 1 client listener)" in message
    assert f"pid {os.getpid()}" in message and "--port-offset" in message


def test_free_port_passes() -> None:
    ensure_ports_free({_free_low_port(): "anything"})


def test_port_in_the_ephemeral_range_is_refused_before_it_can_collide() -> None:
    low, high = ephemeral_port_range()
    with pytest.raises(PortInUseError, match=rf"ephemeral port range {low}-{high}.*--port-offset"):
        ensure_ports_free({low + 5: "node 1 client listener"})
