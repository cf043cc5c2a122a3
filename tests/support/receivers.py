"""Real servers on 127.0.0.1 for what leaves the shop: a webhook receiver and an SMTP server.

Fixtures: ``receiver`` (a ``WebhookReceiver``, started and stopped around the test) and
``smtp_server`` (an ``SmtpServer``: aiosmtpd on a free port). Classes: ``WebhookReceiver``,
``Receipt``, ``Trickle`` (an answer a byte at a time), ``SmtpServer``. Nothing here mocks the shop's
side: the shop connects, sends and reads answers over real sockets; the receiver verifies every
signature with ``standardwebhooks``.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from standardwebhooks import Webhook, WebhookVerificationError

from tests.support.server import free_port


@dataclass(frozen=True)
class Receipt:
    """One request the receiver got: its headers, its body, and whether its signature verified."""

    path: str
    headers: dict[str, str]
    body: str
    verified: bool

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass(frozen=True)
class Trickle:
    """An answer that never ends in time: its status line and headers, a byte every ``interval``
    seconds for ``seconds`` (each read gets a byte well within any read timeout)."""

    interval: float = 0.2
    seconds: float = 60

    def send(self, wfile) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"." * 100_000
        for i in range(int(self.seconds / self.interval)):
            wfile.write(head[i : i + 1])
            wfile.flush()
            time.sleep(self.interval)


# What the receiver answers a request: (status, body), a callable that decides (it may block), or a
# ``Trickle``.
Answer = tuple[int, str] | Callable[[Receipt], tuple[int, str]] | Trickle


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records what it receives and answers as told.

    ``answers`` are used in turn, the last one again and again (default: 200). ``secret`` is set
    by the test once the endpoint exists; each receipt is verified with it. It speaks HTTP/1.1 and
    keeps connections alive, as real receivers do; ``connections`` counts those it accepted.
    """

    answers: list[Answer] = field(default_factory=lambda: [(200, "ok")])
    secret: str | None = None
    receipts: list[Receipt] = field(default_factory=list)
    connections: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with receiver._lock:
                    receiver.connections += 1

            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                receipt = Receipt(self.path, headers, body, receiver.verifies(body, headers))
                with receiver._lock:
                    answer = receiver.answers[min(len(receiver.receipts), len(receiver.answers) - 1)]
                    receiver.receipts.append(receipt)
                try:
                    if isinstance(answer, Trickle):
                        answer.send(self.wfile)
                        return
                    status, text = answer(receipt) if callable(answer) else answer
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(text.encode())))
                    self.end_headers()
                    self.wfile.write(text.encode())
                except OSError:
                    pass  # the shop gave up waiting (a timeout test)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def verifies(self, body: str, headers: dict[str, str]) -> bool:
        if self.secret is None:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def wait_for(self, count: int, timeout: float = 20) -> list[Receipt]:
        """Wait until ``count`` requests have arrived; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.receipts) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.receipts)} of {count} webhooks arrived in {timeout} s")
            time.sleep(0.02)
        return list(self.receipts)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


class _Inbox:
    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.peers: list[tuple[str, int]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1: ``messages`` are the e-mails it accepted, as ``EmailMessage``; ``peers``
    the client's address and port of each, so one per connection."""

    controller: Controller
    inbox: _Inbox

    @classmethod
    def start(cls, **settings: Any) -> SmtpServer:
        """One on a free port; ``settings`` are aiosmtpd's ``SMTP`` options (``timeout``: idle seconds)."""
        inbox = _Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **settings)
        controller.start()
        return cls(controller, inbox)

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    @property
    def peers(self) -> list[tuple[str, int]]:
        return self.inbox.peers

    def config(self) -> dict:
        """The app settings that send e-mail through this server."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port}


def text_of(message: EmailMessage) -> str:
    """The plain-text part of an e-mail."""
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return part.get_content()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer.start()
    yield server
    server.stop()
