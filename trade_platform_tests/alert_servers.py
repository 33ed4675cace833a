"""Real local targets for alerts, from Python's standard library: an HTTP server that records each
JSON POST (answering with scripted statuses first), and a minimal SMTP server (EHLO, AUTH PLAIN,
MAIL, RCPT, DATA) that records each message with its envelope and login."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Webhook:
    url: str
    statuses: list[int] = field(default_factory=list)
    """Answers to the next requests, in order; 200 once they are used up."""
    posts: list[dict] = field(default_factory=list)
    """Every request's JSON body, the failed ones included."""
    accepted: list[dict] = field(default_factory=list)

    def texts(self) -> list[str]:
        return [post["text"] for post in self.accepted]


@contextmanager
def webhook(statuses: list[int] | None = None) -> Iterator[Webhook]:
    """A webhook on a free loopback port, at path ``/hook/secret-token``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = recorder.statuses.pop(0) if recorder.statuses else 200
            recorder.posts.append(body)
            if status == 200:
                recorder.accepted.append(body)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"error")

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder = Webhook(f"http://127.0.0.1:{server.server_address[1]}/hook/secret-token", list(statuses or []))
    with _serving(server):
        yield recorder


@dataclass
class Mailbox:
    port: int
    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    """Each message's envelope recipients and the message."""
    logins: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(f"{line}\r\n".encode())

        def handle(self):
            self.reply("220 localhost test SMTP")
            recipients: list[str] = []
            while line := self.rfile.readline().decode().rstrip("\r\n"):
                verb, _, argument = line.partition(" ")
                verb = verb.upper()
                if verb == "EHLO":
                    self.reply("250-localhost")
                    self.reply("250 AUTH PLAIN")
                elif verb == "AUTH":
                    _, user, password = base64.b64decode(argument.split()[1]).decode().split("\0")
                    mailbox.logins.append((user, password))
                    self.reply("235 authenticated")
                elif verb == "RCPT":
                    recipients.append(argument.split(":", 1)[1].strip("<> "))
                    self.reply("250 ok")
                elif verb == "DATA":
                    self.reply("354 end with .")
                    lines = []
                    while (data := self.rfile.readline()) not in (b".\r\n", b""):
                        lines.append(data[1:] if data.startswith(b"..") else data)
                    mailbox.messages.append(
                        (recipients, email.message_from_bytes(b"".join(lines), policy=email.policy.default))
                    )
                    recipients = []
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:  # HELO, MAIL, RSET, NOOP
                    self.reply("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    mailbox = Mailbox(server.server_address[1])
    with _serving(server):
        yield mailbox


def unused_port() -> int:
    """A loopback port nothing listens on (a target that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
