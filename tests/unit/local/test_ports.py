from __future__ import annotations

import os
import socket

import pytest

from streamplane.errors import PortInUseError
from streamplane.local._ports import ensure_ports_free, port_is_free


def test_taken_port_names_the_port_its_purpose_and_the_process() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(PortInUseError) as info:
            ensure_ports_free({port: "node 1 client listener"})
    assert info.value.port == port
    assert info.value.pid == os.getpid()
    message = str(info.value)
    assert f"port {port} (node 1 client listener)" in message
    assert f"pid {os.getpid()}" in message and "--port-offset" in message


def test_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ensure_ports_free({port: "anything"})
