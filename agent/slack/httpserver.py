"""The HTTP server under `fivewhys serve`: the standard library's threading server with two bounds it lacks.

- A deadline per request for its headers and body together (REQUEST_SECONDS). The standard socket timeout
  is per recv, so a client sending a byte every few seconds ("slowloris") held a thread for ever.
- At most MAX_CONNECTIONS connections at once. When all are taken, the oldest connection still sending
  its request is closed to make room: a webhook is read in milliseconds, so the oldest unfinished one is
  the slow client, and a page arriving during such an attack still gets in. If every connection is past
  reading (being answered), the newcomer gets 503 and the sender retries.
uvicorn/h11 would not give the first bound (its keep-alive timeout is reset by every byte received;
encode/uvicorn#157), hence docs/DECISIONS.md.
"""
from __future__ import annotations

import io
import socket
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUEST_SECONDS = 10.0     # headers and body of one request, in all; a page is a few KiB
MAX_CONNECTIONS = 128      # well under the usual 1,024 open files, with room for Slack calls and the journal
BUSY = b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _DeadlineReader(io.RawIOBase):
    """A socket read that gives up at one deadline for the whole request, not per recv."""

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request was not received in time")
        self.sock.settimeout(left)
        return self.sock.recv_into(buf)


class BoundedHandler(BaseHTTPRequestHandler):
    """One request per connection (HTTP/1.0), read within the server's request deadline."""
    timeout = 10                  # for writing the answer

    def setup(self) -> None:
        super().setup()
        self.rfile.close()            # the plain socket file it made: its reads would have no deadline
        deadline = time.monotonic() + self.server.request_seconds
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline))

    def request_read(self) -> None:
        """The request is in: from now on this connection is answered, not waited for."""
        self.connection.settimeout(self.timeout)
        self.server.reading_done(self.connection)


class PageServer(ThreadingHTTPServer):
    request_queue_size = 256      # listen backlog: a page storm connects at once (the default 5 resets them)
    daemon_threads = True
    request_seconds = REQUEST_SECONDS
    max_connections = MAX_CONNECTIONS

    def __init__(self, *args, **kwargs):
        self._open: OrderedDict[socket.socket, bool] = OrderedDict()     # connection → still reading, oldest first
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._open_lock:
            if len(self._open) >= self.max_connections:
                slow = next((c for c, reading in self._open.items() if reading), None)
                if slow is None:
                    return self._busy(request)
                del self._open[slow]
                _hang_up(slow)            # its thread wakes with end-of-file and ends
            self._open[request] = True
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)

    def reading_done(self, request) -> None:
        with self._open_lock:
            if request in self._open:
                self._open[request] = False

    @property
    def open_connections(self) -> int:
        with self._open_lock:
            return len(self._open)

    def _busy(self, request) -> None:
        try:
            request.settimeout(0.5)
            request.sendall(BUSY)
        except OSError:
            pass
        self.shutdown_request(request)


def _hang_up(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
