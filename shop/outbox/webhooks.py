"""Webhook endpoints (Standard Webhooks): who gets which events, signed how, and only at public addresses.

- ``add_endpoint`` / ``set_enabled`` / ``rotate_secret`` / ``remove_endpoint``: what the CLI, the
  staff Integrations page and the API call. A secret (``whsec_`` + 24 random bytes in base64) is
  returned once, when made.
- ``url_problem`` refuses anything but ``https://`` URLs whose host resolves to public addresses
  only, when an endpoint is saved; ``post`` checks again at every delivery, then connects to the
  address it checked (a name that resolves elsewhere a moment later cannot redirect the request),
  or reuses a kept-alive connection to that very address, follows no redirect and gives up after
  ``SHOP_WEBHOOK_TIMEOUT`` seconds.
  ``SHOP_WEBHOOKS_ALLOW_PRIVATE=1`` lifts both rules (development and tests).
- ``signed_headers``: ``webhook-id`` (the event id, the same on every retry), ``webhook-timestamp``
  and ``webhook-signature``, made with the ``standardwebhooks`` package.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import ipaddress
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import urllib3
from sqlalchemy import select
from standardwebhooks import Webhook
from urllib3.exceptions import HTTPError

from ..errors import InvalidWebhookEndpoint, Problem
from ..extensions import DbSession
from ..models import utcnow
from .models import WebhookEndpoint
from .types import EventType

SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
ALL_TYPES = "*"
USER_AGENT = "Shop-Webhooks/1"
ANSWER_LENGTH = 1000  # characters of an answer kept on the delivery


class UnsafeDestination(Exception):
    """The endpoint's address is not one the shop may call (not https, not public, does not resolve)."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


# -- where a webhook may go ------------------------------------------------------------------


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone index says nothing of the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _split(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of ``url``; raises ``UnsafeDestination`` for a URL the shop will not call."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestination(f"the URL is not valid ({exc})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeDestination("the URL must start with https:// and name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeDestination("the URL must not hold a user name or password")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(url: str, *, allow_private: bool) -> list[str]:
    """The addresses ``url``'s host resolves to, if the shop may call every one of them."""
    scheme, host, port = _split(url)
    if scheme != "https" and not allow_private:
        raise UnsafeDestination("webhooks are only sent over https://")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeDestination(f"{host} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    private = [address for address in addresses if not _is_public(address)]
    if private and not allow_private:
        raise UnsafeDestination(
            f"{host} resolves to an address that is not public ({', '.join(private)}): "
            "loopback, private, link-local, unique-local, multicast and unspecified addresses are refused"
        )
    return addresses


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why the shop will not send webhooks to ``url``, or None."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or not c.isprintable() for c in url):
        return f"The URL must be at most {MAX_URL_LENGTH} printable characters without spaces."
    try:
        resolve(url, allow_private=allow_private)
    except UnsafeDestination as exc:
        return f"Webhooks cannot go to {url}: {exc}."
    return None


# -- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    text: str  # the first ``ANSWER_LENGTH`` characters of the body

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300


def signed_headers(secret: str, event_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: the same id every time, this attempt's time."""
    at = at or datetime.now(UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
    }


# urllib3's timeouts bound each read, not the answer: a receiver that sends a byte every second would
# hold the worker for as long as it likes. So each exchange has a deadline: once ``timeout`` seconds
# have passed since it began, one watchdog thread (a thread per exchange cost 0.1 ms) shuts its
# connection's socket down; the read under way fails and the delivery is retried, on a new connection.
class _Deadline:
    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.passed = False
        self.socket: socket.socket | None = None

    def shut(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._token = _deadline.set(self)
        _watchdog.watch(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _watchdog.forget(self)
        _deadline.reset(self._token)


class _Watchdog:
    def __init__(self) -> None:
        self.lock = threading.Condition()
        self._deadlines: set[_Deadline] = set()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self.lock:
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked process
                self._thread = threading.Thread(target=self._run, name="webhook-deadlines", daemon=True)
                self._thread.start()
            self._deadlines.add(deadline)
            self.lock.notify()

    def forget(self, deadline: _Deadline) -> None:
        with self.lock:
            self._deadlines.discard(deadline)
            deadline.socket = None

    def _run(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                for deadline in [d for d in self._deadlines if d.at <= now]:
                    deadline.passed = True
                    deadline.shut()
                    self._deadlines.discard(deadline)
                soonest = min((d.at for d in self._deadlines), default=None)
                self.lock.wait(None if soonest is None else soonest - now)


_watchdog = _Watchdog()
_deadline: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar("webhook_deadline", default=None)


def _watch(sock: socket.socket | None) -> None:
    """The request is sent: the exchange's deadline may shut this socket from now on."""
    deadline = _deadline.get()
    if deadline is not None:
        with _watchdog.lock:
            deadline.socket = sock
            if deadline.passed:
                deadline.shut()


class _Connection(urllib3.connection.HTTPConnection):
    def getresponse(self) -> urllib3.HTTPResponse:  # type: ignore[override] # as urllib3's own
        _watch(self.sock)
        return super().getresponse()


class _TLSConnection(urllib3.connection.HTTPSConnection):
    def getresponse(self) -> urllib3.HTTPResponse:  # type: ignore[override] # as urllib3's own
        _watch(self.sock)
        return super().getresponse()


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


# A worker's webhooks to one receiver go over one kept-alive connection (and TLS session), not a new
# one each: a pool per destination, keyed by scheme, the address checked for this delivery, port and
# host name, and at most ``POOLS`` of them in this process (the least recently used is closed). The
# name is still resolved and checked at every delivery; a pool only ever connects to its address.
POOLS = 32
_pools = urllib3.PoolManager(num_pools=POOLS, maxsize=1, cert_reqs="CERT_REQUIRED")
_pools.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}


def post(url: str, body: str, headers: dict[str, str], *, timeout: float, allow_private: bool) -> Answer:
    """POST ``body`` (JSON) to ``url`` at an address checked just now; raises ``UnsafeDestination`` or
    ``urllib3.exceptions.HTTPError`` (no answer in time, refused, TLS)."""
    scheme, host, port = _split(url)
    address = resolve(url, allow_private=allow_private)[0]
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = f"[{host}]" if ":" in host else host
    if port != (443 if scheme == "https" else 80):
        host_header += f":{port}"
    pool = _pools.connection_from_host(
        address, port, scheme, pool_kwargs={"server_hostname": host, "assert_hostname": host}
    )
    with _Deadline(timeout) as deadline:
        try:
            answer = _exchange(pool, path, body.encode(), {"Host": host_header, **headers}, timeout)
        except HTTPError:
            if not deadline.passed:
                raise
    if deadline.passed:  # what was read before the socket was shut may parse, but is not the answer
        raise urllib3.exceptions.TimeoutError(f"no whole answer within {timeout:g} s")
    return answer


def _exchange(
    pool: urllib3.HTTPConnectionPool, path: str, body: bytes, headers: dict[str, str], timeout: float
) -> Answer:
    response = pool.urlopen(
        "POST",
        path,
        body=body,
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        redirect=False,
        retries=False,
        timeout=urllib3.Timeout(total=timeout),
        preload_content=False,
    )
    try:
        text = response.read(ANSWER_LENGTH * 4).decode("utf-8", "replace")[:ANSWER_LENGTH]
    finally:
        if not response.closed:  # an answer longer than what was read: its connection cannot be reused
            response.close()
        response.release_conn()
    return Answer(response.status, text)


# -- managing endpoints ----------------------------------------------------------------------


def event_types_problem(event_types: Iterable[str]) -> str | None:
    unknown = sorted(set(event_types) - {ALL_TYPES, *EventType})
    if unknown:
        return (
            f"Unknown event type(s) {', '.join(unknown)}; use {ALL_TYPES} or some of: {', '.join(EventType)}."
        )
    return None


def add_endpoint(
    session: DbSession,
    url: str,
    event_types: Iterable[str] = (ALL_TYPES,),
    description: str = "",
    *,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """A new enabled endpoint (added, not committed) and its secret, to be shown once.

    Raises ``InvalidWebhookEndpoint`` listing every problem (URL, event types, description).
    """
    event_types = list(dict.fromkeys(event_types)) or [ALL_TYPES]
    problems = []
    if reason := url_problem(url, allow_private=allow_private):
        problems.append(Problem("invalid_url", reason))
    if reason := event_types_problem(event_types):
        problems.append(Problem("invalid_event_type", reason))
    if len(description) > MAX_DESCRIPTION_LENGTH or not description.isprintable():
        problems.append(
            Problem("invalid_description", f"The description is at most {MAX_DESCRIPTION_LENGTH} characters.")
        )
    if problems:
        raise InvalidWebhookEndpoint(problems)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        event_types=" ".join(event_types),
        secret=secret,
        enabled=True,
        created_at=utcnow(),
    )
    session.add(endpoint)
    return endpoint, secret


def find_endpoint(session: DbSession, endpoint_id: int) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id)


def list_endpoints(session: DbSession) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def set_enabled(endpoint: WebhookEndpoint, enabled: bool, reason: str | None = None) -> None:
    """Enable an endpoint (it fails from scratch again), or disable it saying why."""
    endpoint.enabled = enabled
    endpoint.disabled_reason = None if enabled else (reason or "disabled by staff")
    endpoint.failing_since = None


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """A new secret for ``endpoint``, returned once; the old one stops signing at once."""
    endpoint.secret = new_secret()
    return endpoint.secret
