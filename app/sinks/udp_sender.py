"""The UDP sender of the OSC and JSON sinks: HOST:PORT parsing and resolution, a non-blocking
datagram sender that never raises into the pipeline and reports each kind of failure once, and
the base class of the sinks built on it.
"""

from __future__ import annotations

import errno
import logging
import socket

from app.sinks.errors import SinkConfigError

log = logging.getLogger(__name__)


def parse_host_port(text: str, default_port: int, flag: str = "--osc") -> tuple[str, int]:
    """'HOST:PORT', 'HOST', ':PORT' or '[IPv6]:PORT' -> (host, port). Raises SinkConfigError."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SinkConfigError(f"{flag} {text!r}: missing ']' after the IPv6 address; "
                                  f"write it as [::1]:{default_port}")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise SinkConfigError(f"{flag} {text!r}: expected ':PORT' after ']'")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    host = host or "127.0.0.1"
    if not port_text:
        return host, check_port(default_port, flag)
    try:
        port = int(port_text)
    except ValueError:
        raise SinkConfigError(f"{flag} {text!r}: port {port_text!r} is not a number; "
                              f"use HOST:PORT, e.g. 127.0.0.1:{default_port}") from None
    return host, check_port(port, flag)


def check_port(port: int, flag: str = "port") -> int:
    """A UDP destination port must be in 1..65535."""
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise SinkConfigError(f"{flag}: port {port!r} is out of range; use a port in 1..65535")
    return port


def resolve_udp(host: str, port: int, flag: str = "host") -> tuple[int, tuple]:
    """Resolve a UDP destination. Returns (address family, socket address).
    Raises SinkConfigError naming the host when it does not resolve."""
    check_port(port, flag)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as e:
        raise SinkConfigError(f"{flag}: host {host!r} does not resolve ({e}); give an IP address "
                              f"or a known host name, e.g. 127.0.0.1:{port}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


class DatagramSender:
    """A connected, non-blocking UDP socket. `send(data)` never blocks and never raises:
    a full socket buffer drops the datagram (counted in `dropped`), an error is counted, stored
    in `error` (the first one) and logged once per kind (errno).

    Because the socket is connected, an ICMP 'port unreachable' from the peer shows up as
    ECONNREFUSED on a later send: reported once as 'nothing is listening', sending goes on.
    """

    def __init__(self, host: str, port: int, what: str, flag: str) -> None:
        self.what = what
        self.family, self.address = resolve_udp(host, port, flag)
        self.host, self.port = host, port
        self._sock = socket.socket(self.family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        try:
            self._sock.connect(self.address)
        except OSError as e:
            self._sock.close()
            raise SinkConfigError(f"{flag}: cannot send to {host}:{port} ({e}); "
                                  f"check the address") from None
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self.error: str | None = None
        self._reported: set[object] = set()

    def send(self, data: bytes) -> bool:
        """Send one datagram. Returns True when the kernel took it."""
        try:
            self._sock.send(data)
        except BlockingIOError:
            self.dropped += 1
            return False
        except OSError as e:
            self.failed += 1
            self._report(e)
            return False
        self.sent += 1
        return True

    def _report(self, e: OSError) -> None:
        code = e.errno if e.errno is not None else -1
        if code == errno.ECONNREFUSED:
            msg = (f"{self.what}: nothing is listening at {self.host}:{self.port} "
                   f"(connection refused); still sending - start the receiver or fix the port")
        elif code == errno.EMSGSIZE:
            msg = f"{self.what}: datagram too large for {self.host}:{self.port} ({e}); dropped"
        else:
            msg = (f"{self.what}: cannot send to {self.host}:{self.port} ({e}); "
                   f"check the host and the network")
        self.report(code, msg)

    def report(self, key: object, msg: str) -> None:
        """Record a problem: the first one is kept in `error`; each key is logged once."""
        if self.error is None:
            self.error = msg
        if key not in self._reported:
            self._reported.add(key)
            log.warning(msg)

    def close(self) -> None:
        self._sock.close()


class DatagramSink:
    """Base of the sinks that send datagrams (OSC, UDP): the error and statistics of their
    DatagramSender, closing and the context-manager protocol."""

    _sender: DatagramSender

    @property
    def error(self) -> str | None:
        return self._sender.error

    @property
    def stats(self) -> dict[str, int]:
        s = self._sender
        return {"sent": s.sent, "dropped": s.dropped, "failed": s.failed}

    def close(self) -> None:
        self._sender.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
