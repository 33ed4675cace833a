"""A reverse proxy in front of the test S3 server that answers chosen requests with 503 SlowDown,
the throttling response S3 itself sends (or another refusal, such as Glue's
``GLUE_THROTTLING``): a real transient fault on the wire."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
GLUE_THROTTLING = (
    400,
    "application/x-amz-json-1.1",
    b'{"__type": "ThrottlingException", "message": "Rate exceeded"}',
)
"""How Glue (a JSON-protocol service) answers a caller over its request rate."""


@contextmanager
def flaky_proxy(
    upstream: str,
    fail: Callable[[str, str], bool],
    refusal: tuple[int, str, bytes] = (503, "application/xml", SLOW_DOWN),
) -> Iterator[tuple[str, list[str]]]:
    """Serve on a free loopback port; ``fail(method, path)`` picks the requests to refuse, which
    are answered with ``refusal`` (status, content type, body).

    Yields the proxy's URL and the list of refused requests.
    """
    target = urlsplit(upstream)
    refused: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if fail(self.command, self.path):
                refused.append(f"{self.command} {self.path}")
                status, content_type, answer = refusal
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
            upstream_connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = target.netloc
            upstream_connection.request(self.command, self.path, body=body, headers=headers)
            response = upstream_connection.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            # A HEAD answer has no body but the object's length, as S3 itself says it.
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            upstream_connection.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", refused
    finally:
        server.shutdown()
        server.server_close()
