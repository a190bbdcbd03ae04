"""Fail early and precisely when a port the cluster needs is taken."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil

from streamplane.errors import PortInUseError
from streamplane.local._process import NODE_TAG


def _listener_of(port: int) -> tuple[int | None, str]:
    """(pid, description) of whoever listens on ``port``, as far as we may see."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, PermissionError):
        return None, "unknown process (not allowed to list sockets)"
    for conn in conns:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            if conn.pid is None:
                return None, "a process we may not inspect"
            try:
                proc = psutil.Process(conn.pid)
                cmdline = proc.cmdline()
            except psutil.Error:
                return conn.pid, f"pid {conn.pid}"
            nodes = [a.removeprefix(NODE_TAG) for a in cmdline if a.startswith(NODE_TAG)]
            if nodes:
                return conn.pid, f"the Streamplane node in {nodes[0]} (pid {conn.pid})"
            return conn.pid, f"pid {conn.pid} ({proc.name()}: {' '.join(cmdline)[:120]})"
    return None, "unknown process"


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a port in TIME_WAIT from our own last run would look taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux default 32768-60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def ensure_ports_free(ports: dict[int, str]) -> None:
    """Raise PortInUseError for the first taken port; ``ports`` maps port -> what needs it.

    Ports inside the ephemeral range are refused too: any outgoing connection (even
    one node's connection to another) may be given that port as its local end, and
    the node that later binds it dies with "Address already in use" at random.
    """
    low, high = ephemeral_port_range()
    risky = sorted(p for p in ports if low <= p <= high)
    if risky:
        raise PortInUseError(
            f"port {risky[0]} ({ports[risky[0]]}) lies in the kernel's ephemeral port range "
            f"{low}-{high}, where outgoing connections can take it at any moment. Choose a "
            f"--port-offset that keeps every port below {low} (or above {high}).",
            port=risky[0],
        )
    for port, purpose in ports.items():
        if not port_is_free(port):
            pid, who = _listener_of(port)
            raise PortInUseError(
                f"port {port} ({purpose}) is already in use by {who}. Stop that process, "
                "or run this cluster on other ports with --port-offset.",
                port=port,
                pid=pid,
            )
