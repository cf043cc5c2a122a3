"""E-mail: Flask-Mail over SMTP, or ``.eml`` files in ``SHOP_MAIL_DIR`` when no ``MAIL_SERVER`` is set.

Every message has a text and an HTML part rendered from ``shop/templates/email/<name>.txt`` and
``.html``; links start with ``SHOP_PUBLIC_URL``, never with a request's Host header.
"""

from __future__ import annotations

import email.policy
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from flask import Flask, current_app, render_template
from flask_mail import Connection, Mail, Message
from sqlalchemy import select

from ..extensions import db
from ..models import User

mail = Mail()


def init_app(app: Flask) -> None:
    # Flask-Mail suppresses sending whenever app.testing: the tests deliver to a real SMTP server.
    app.config.setdefault("MAIL_SUPPRESS_SEND", False)
    app.config["SHOP_MAIL_DIR"] = app.config.get("SHOP_MAIL_DIR") or os.path.join(app.instance_path, "mail")
    mail.init_app(app)
    app.add_template_filter(email_time)


def email_time(value: str) -> str:
    """An RFC 3339 time of an event's payload for an e-mail: ``14:05 UTC on 2026-12-02``."""
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{at:%H:%M} UTC on {at:%Y-%m-%d}"


def public_url(path: str) -> str:
    """An absolute link: ``SHOP_PUBLIC_URL`` and ``path`` (e-mails, and the pages' canonical links and sitemap)."""
    return current_app.config["SHOP_PUBLIC_URL"].rstrip("/") + path


# Flask-Mail serialises under ``policy.SMTP``, which parses every header again through the header
# registry: more than half of an e-mail's CPU. Its headers are ASCII by then (a non-ASCII subject
# or name is RFC 2047-encoded already), so the compat32 policy with CRLF writes the same message
# for less: the same bytes, but for a non-ASCII display name, encoded whole rather than per word.
WIRE_POLICY = email.policy.compat32.clone(linesep="\r\n")


class _Message(Message):
    def as_bytes(self) -> bytes:  # Flask-Mail's SMTP connection sends these bytes too
        return self._message().as_bytes(policy=WIRE_POLICY)


def message(name: str, recipients: list[str], subject: str, **context: Any) -> Message:
    """The e-mail ``name`` (templates ``email/<name>.txt`` and ``.html``) to ``recipients``."""
    context |= {"public_url": public_url, "subject": subject}
    return _Message(
        subject=subject,
        recipients=list(recipients),
        body=render_template(f"email/{name}.txt", **context),
        html=render_template(f"email/{name}.html", **context),
    )


def send(msg: Message) -> None:
    """Send ``msg`` by SMTP (within ``one_connection``, on its connection), or write it as an ``.eml``
    file when no ``MAIL_SERVER`` is configured.

    Raises what the SMTP client raises (``smtplib.SMTPException``, ``OSError``): the caller retries.
    """
    if current_app.config.get("MAIL_SERVER"):
        connection = _kept.get()
        if connection is None:
            mail.send(msg)
        else:
            _send_on_kept(connection, msg)
        return
    folder = current_app.config["SHOP_MAIL_DIR"]
    os.makedirs(folder, exist_ok=True)
    # Written whole under a temporary name, then renamed: a reader never sees half a message.
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".eml")
    with os.fdopen(descriptor, "wb") as file:
        file.write(msg.as_bytes())
    name = msg.msgId.strip("<>").split("@")[0]
    os.replace(temporary, os.path.join(folder, f"{name}.eml"))


# The connection shared within ``one_connection``: Flask-Mail's, with no ``host`` until its first e-mail.
_kept: ContextVar[Connection | None] = ContextVar("shop.mail.kept", default=None)


@contextmanager
def one_connection() -> Iterator[None]:
    """E-mails sent by SMTP within share one connection, opened by the first and closed at the end.

    The worker sends each batch of deliveries within one: a connection per e-mail cost a TCP
    connection, TLS and a log-in each. A send that fails drops the connection; the next opens another.
    """
    connection = mail.connect()  # not opened yet
    token = _kept.set(connection)
    try:
        yield
    finally:
        _kept.reset(token)
        _close(connection)


def _send_on_kept(connection: Connection, msg: Message) -> None:
    reused = connection.host is not None
    if not reused:
        connection.__enter__()
    try:
        connection.send(msg)
    except Exception as exc:
        _close(connection)
        if not (reused and isinstance(exc, OSError)):  # smtplib's errors are OSErrors
            raise
        _send_on_kept(connection, msg)  # a server may close a connection left idle: once more, on a new one


def _close(connection: Connection) -> None:
    with suppress(OSError):  # smtplib's errors too: the server closed it already
        connection.__exit__(None, None, None)  # type: ignore[arg-type]
    connection.host = None


def staff_recipients() -> list[str]:
    """``SHOP_STAFF_ALERTS_TO`` (comma-separated), or else every active staff account."""
    configured = current_app.config.get("SHOP_STAFF_ALERTS_TO")
    if configured:
        return [address.strip() for address in configured.split(",") if address.strip()]
    return list(
        db.session.scalars(
            select(User.email).where(User.is_staff.is_(True), User.disabled_at.is_(None)).order_by(User.email)
        )
    )
