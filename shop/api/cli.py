"""``flask staff token | tokens | revoke-token``: the API's bearer tokens, on the ``staff`` group."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..cli import CLI_ACTOR, staff_cli
from ..database import commit_unit_of_work
from ..extensions import db
from ..models import User, utcnow
from . import idempotency
from .auth import issue_token
from .models import SCOPES, TOKEN_LIFETIME, ApiToken

MAX_TOKEN_DAYS = 3650


def _staff_user(email: str) -> User:
    email = email.strip().lower()
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or user.email != email:
        raise click.ClickException(f"There is no user {email}.")
    return user


@staff_cli.command("token")
@click.argument("email")
@click.option("--name", default="api", show_default=True, help="What the token is for (shown in listings).")
@click.option(
    "--expires-in",
    "days",
    type=click.IntRange(1, MAX_TOKEN_DAYS),
    default=TOKEN_LIFETIME.days,
    show_default=True,
    metavar="DAYS",
    help="The token stops working after this many days.",
)
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(SCOPES),
    multiple=True,
    help="What the token may do; repeat for several (default: all): read (stock and ledgers), "
    "orders:write (create orders, change their status), stock:write (stock adjustments, products).",
)
def staff_token(email: str, name: str, days: int, scopes: tuple[str, ...]):
    """Create an API token for staff account EMAIL and print it (it is shown only once)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise click.BadParameter("1 to 100 characters.", param_hint="--name")
    user = _staff_user(email)
    if not user.is_staff:
        raise click.ClickException(f"{user.email} is not a staff account.")
    if user.disabled_at is not None:
        raise click.ClickException(f"{user.email} is disabled (flask staff enable).")
    email = user.email

    def work():
        row, token = issue_token(
            db.session, user, name, expires_in=timedelta(days=days), scopes=scopes or SCOPES
        )
        db.session.flush()
        return row.id, token, row.scopes, row.expires_at

    token_id, token, granted, expires_at = commit_unit_of_work(work, actor=CLI_ACTOR)
    click.echo(
        f"Token {token_id} ({name}) for {email}, scopes {granted}, expires {expires_at:%Y-%m-%d %H:%M} UTC:"
    )
    click.echo(token)
    click.echo(
        "Store it now: only its hash is kept. Revoke it with "
        f"`flask staff revoke-token {email} --id {token_id}`.",
        err=True,
    )


@staff_cli.command("tokens")
@click.argument("email", required=False)
def staff_tokens(email: str | None):
    """List API tokens (of EMAIL, or of everyone): owner, name, scopes, created, last used, expiry, revoked."""
    stmt = select(ApiToken, User.email).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if email:
        stmt = stmt.where(User.id == _staff_user(email).id)
    now = utcnow()

    def when(value):
        return f"{value:%Y-%m-%d %H:%M}" if value else "-"

    click.echo(
        f"{'ID':>4}  {'EMAIL':<30} {'NAME':<16} {'SCOPES':<30} {'CREATED':<16} {'LAST USED':<16} "
        f"{'EXPIRES':<16} REVOKED"
    )
    for token, owner in db.session.execute(stmt):
        expires = when(token.expires_at) + (" (expired)" if token.expires_at <= now else "")
        click.echo(
            f"{token.id:>4}  {owner:<30} {token.name:<16} {token.scopes:<30} {when(token.created_at):<16} "
            f"{when(token.last_used_at):<16} {expires:<16} {when(token.revoked_at)}"
        )


@staff_cli.command("revoke-token")
@click.argument("email")
@click.option(
    "--id", "token_id", type=int, default=None, help="Revoke only this token (see `flask staff tokens`)."
)
def staff_revoke_token(email: str, token_id: int | None):
    """Revoke the API tokens of EMAIL (all of them, or only --id)."""
    user = _staff_user(email)

    def work() -> int:
        stmt = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        if token_id is not None:
            stmt = stmt.where(ApiToken.id == token_id)
        tokens = db.session.scalars(stmt).all()
        now = utcnow()
        for token in tokens:
            token.revoked_at = now
        return len(tokens)

    revoked = commit_unit_of_work(work, actor=CLI_ACTOR)
    if token_id is not None and not revoked:
        raise click.ClickException(f"{user.email} has no active token {token_id}.")
    click.echo(f"Revoked {revoked} token(s) of {user.email}.")


api_cli = AppGroup("api", help="Housekeeping of the JSON API.")


@api_cli.command("purge-keys")
def api_purge_keys():
    """Delete the idempotency keys older than 24 hours (they are already ignored); safe from cron."""
    total = 0
    while True:
        purged = idempotency.purge_expired()
        total += purged
        if purged < idempotency.PURGE_BATCH:
            break
    click.echo(f"Purged {total} idempotency key(s) older than 24 hours.")
