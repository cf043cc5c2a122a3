"""The commands of the outbox: ``flask worker``, ``flask events …`` and ``flask webhooks …``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from ..database import commit_unit_of_work
from ..errors import InvalidWebhookEndpoint
from ..extensions import db
from . import delivery, webhooks
from .models import WebhookEndpoint
from .types import EventType
from .worker import Worker, purge

CLI_ACTOR = "cli"


@click.command("worker")
@click.option("--once", is_flag=True, help="Do what is due now, then exit.")
@with_appcontext
def worker_command(once: bool):
    """Deliver events (webhooks, e-mail), release expired holds, send the low-stock digest.

    Runs until SIGTERM or Ctrl-C (the delivery in hand is finished first). Run one beside the web
    server; several at once are safe.
    """
    worker = Worker(current_app._get_current_object())  # type: ignore[attr-defined]
    if not once:
        click.echo("Worker started: delivering events, releasing expired holds. Stop with Ctrl-C.")
    worker.run(once=once)
    click.echo(f"Worker stopped: {worker.delivered} delivered, {worker.failed} failed attempts.")


# -- events ----------------------------------------------------------------------------------

events_cli = AppGroup("events", help="The outbox: retry deliveries, purge old events.")


@events_cli.command("retry")
@click.argument("event_id", required=False)
@click.option("--failed", is_flag=True, help="Every failed delivery, of any event.")
def events_retry(event_id: str | None, failed: bool):
    """Make the undelivered deliveries of EVENT_ID (or, --failed, every failed one) due now."""
    if (event_id is None) == (not failed):
        raise click.UsageError("Give an EVENT_ID or --failed (not both).")
    count = commit_unit_of_work(
        lambda: delivery.retry_now(db.session, event_id=event_id, failed=failed), actor=CLI_ACTOR
    )
    if event_id is not None and count == 0:
        raise click.ClickException(f"Event {event_id} has no undelivered delivery.")
    click.echo(f"{count} deliver{'y' if count == 1 else 'ies'} due now; the worker sends them.")


@events_cli.command("purge")
def events_purge():
    """Delete events older than SHOP_EVENTS_RETENTION_DAYS, with their deliveries."""
    click.echo(f"Purged {purge()} event(s).")


# -- webhooks --------------------------------------------------------------------------------

webhooks_cli = AppGroup("webhooks", help="Webhook endpoints (Standard Webhooks).")


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = webhooks.find_endpoint(db.session, endpoint_id)
    if endpoint is None:
        raise click.ClickException(f"There is no webhook endpoint {endpoint_id}.")
    return endpoint


def _allow_private() -> bool:
    return current_app.config["SHOP_WEBHOOKS_ALLOW_PRIVATE"]


@webhooks_cli.command("add")
@click.argument("url")
@click.option(
    "--event", "event_types", multiple=True, help="An event type to send (repeatable); default: all."
)
@click.option("--description", default="", help="What the endpoint is, for staff.")
def webhooks_add(url: str, event_types: tuple[str, ...], description: str):
    """Send events to URL (https, public). Prints the id and the secret, shown only this once."""

    def work() -> tuple[int, str]:
        endpoint, secret = webhooks.add_endpoint(
            db.session, url, event_types or ["*"], description, allow_private=_allow_private()
        )
        db.session.flush()
        return endpoint.id, secret

    try:
        endpoint_id, secret = commit_unit_of_work(work, actor=CLI_ACTOR)
    except InvalidWebhookEndpoint as exc:
        raise click.ClickException(
            "refused:\n" + "\n".join(f"  - {p.message}" for p in exc.problems)
        ) from None
    click.echo(f"Webhook endpoint {endpoint_id} added: {url}")
    click.echo(f"Secret (shown only now; verify signatures with it): {secret}")


@webhooks_cli.command("list")
def webhooks_list():
    """Every endpoint: id, state, event types, URL."""
    endpoints = webhooks.list_endpoints(db.session)
    if not endpoints:
        click.echo("No webhook endpoints (flask webhooks add URL).")
    for e in endpoints:
        state = "enabled" if e.enabled else f"disabled ({e.disabled_reason})"
        click.echo(
            f"{e.id:>4}  {state}  {e.event_types}  {e.url}"
            + (f"  - {e.description}" if e.description else "")
        )


def _set_enabled(endpoint_id: int, enabled: bool) -> None:
    commit_unit_of_work(lambda: webhooks.set_enabled(_endpoint(endpoint_id), enabled), actor=CLI_ACTOR)
    click.echo(f"Webhook endpoint {endpoint_id} {'enabled' if enabled else 'disabled'}.")


@webhooks_cli.command("disable")
@click.argument("endpoint_id", type=int)
def webhooks_disable(endpoint_id: int):
    """Stop sending to an endpoint (its pending deliveries wait)."""
    _set_enabled(endpoint_id, False)


@webhooks_cli.command("enable")
@click.argument("endpoint_id", type=int)
def webhooks_enable(endpoint_id: int):
    """Send to an endpoint again."""
    _set_enabled(endpoint_id, True)


@webhooks_cli.command("rotate-secret")
@click.argument("endpoint_id", type=int)
def webhooks_rotate_secret(endpoint_id: int):
    """A new secret for an endpoint (the old one stops at once); shown only this once."""
    secret = commit_unit_of_work(lambda: webhooks.rotate_secret(_endpoint(endpoint_id)), actor=CLI_ACTOR)
    click.echo(f"New secret for webhook endpoint {endpoint_id} (shown only now): {secret}")


@webhooks_cli.command("remove")
@click.argument("endpoint_id", type=int)
def webhooks_remove(endpoint_id: int):
    """Delete an endpoint and its deliveries."""
    commit_unit_of_work(lambda: db.session.delete(_endpoint(endpoint_id)), actor=CLI_ACTOR)
    click.echo(f"Webhook endpoint {endpoint_id} removed.")


@webhooks_cli.command("test")
@click.argument("endpoint_id", type=int)
def webhooks_test(endpoint_id: int):
    """Send a signed ``ping`` event to an endpoint now and print its answer (nothing is recorded)."""
    endpoint = _endpoint(endpoint_id)
    outcome = delivery.ping(endpoint)
    db.session.rollback()
    click.echo(outcome.answer if outcome.status is None else f"HTTP {outcome.status}: {outcome.answer}")
    if not outcome.delivered:
        raise SystemExit(1)


__all__ = ["EventType", "events_cli", "webhooks_cli", "worker_command"]
