"""Webhook endpoints: no SSRF, managed with `flask webhooks …`, a secret shown once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from shop.outbox import EventDelivery, WebhookEndpoint
from shop.outbox.webhooks import url_problem
from tests.support.factories import add_product
from tests.support.outbox import deliveries, place, run_worker
from tests.support.readers import count

REFUSED = [
    "https://127.0.0.1/hooks",
    "https://10.0.0.1/hooks",
    "https://192.168.1.20/hooks",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/hooks",
    "https://[fe80::1]/hooks",
    "https://[fd00::1]/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://224.0.0.1/hooks",
    "https://0.0.0.0/hooks",
    "https://localhost/hooks",  # a name that resolves to loopback
    "http://93.184.216.34/hooks",  # public, but not https
    "https://user:pass@93.184.216.34/hooks",
    "ftp://93.184.216.34/hooks",
    "https:///hooks",
    "https://93.184.216.34:99999/hooks",
]


@pytest.mark.parametrize("url", REFUSED)
def test_webhooks_only_go_to_https_urls_of_public_addresses(url):
    assert url_problem(url, allow_private=False) is not None


def test_a_public_https_address_is_accepted_and_private_ones_only_when_allowed():
    assert url_problem("https://93.184.216.34/hooks", allow_private=False) is None
    assert url_problem("http://127.0.0.1:8000/hooks", allow_private=True) is None
    assert url_problem("https://[::1]/hooks", allow_private=True) is None


def test_the_address_is_checked_again_at_every_delivery(database_urls, receiver):
    """An endpoint saved while private addresses were allowed is refused once they are not, even
    with a kept-alive connection to it from an earlier delivery."""
    from shop.database import commit_unit_of_work
    from shop.extensions import db
    from shop.outbox.webhooks import add_endpoint
    from tests.support.databases import make_app

    url = database_urls("sqlite")
    for app in make_app(url, SHOP_WEBHOOKS_ALLOW_PRIVATE=True):
        with app.app_context():
            commit_unit_of_work(
                lambda: add_endpoint(db.session, receiver.url, allow_private=True), actor="test"
            )
            add_product(db.session, "TEA", 10)
            run_worker(app)
        assert len(receiver.wait_for(1)) == 1  # the initial stock's stock.changed
        for strict in make_app(url, SHOP_WEBHOOKS_ALLOW_PRIVATE=False):
            with strict.app_context():
                place()
                run_worker(strict)
                webhook = [d for d in deliveries(db.session) if d.endpoint_id][1:]  # the order's
                assert {d.status for d in webhook} == {"pending"}
                assert all(
                    d.last_answer.startswith("not sent: webhooks are only sent over https://")
                    for d in webhook
                )
    assert len(receiver.receipts) == 1


def secret_of(output: str) -> str:
    (secret,) = re.findall(r"whsec_[A-Za-z0-9+/=]+", output)
    return secret


def test_add_prints_the_id_and_a_secret_once_and_list_shows_no_secret(runner, session, receiver):
    result = runner.invoke(
        args=[
            "webhooks",
            "add",
            "https://93.184.216.34/hooks",
            "--event",
            "order.placed",
            "--event",
            "order.paid",
            "--description",
            "ERP",
        ]
    )
    assert result.exit_code == 0, result.output
    secret = secret_of(result.output)
    endpoint = session.scalar(select(WebhookEndpoint))
    assert (endpoint.url, endpoint.types, endpoint.description, endpoint.secret) == (
        "https://93.184.216.34/hooks",
        ["order.placed", "order.paid"],
        "ERP",
        secret,
    )
    listed = runner.invoke(args=["webhooks", "list"])
    assert "https://93.184.216.34/hooks" in listed.output and "order.placed order.paid" in listed.output
    assert "whsec_" not in listed.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["https://127.0.0.1/hooks"], "not public"),
        (["http://93.184.216.34/hooks"], "https://"),
        (["https://93.184.216.34/hooks", "--event", "order.shipped"], "Unknown event type"),
        (["https://93.184.216.34/hooks", "--description", "x" * 201], "at most 200"),
    ],
)
def test_add_refuses_with_a_clear_message_and_saves_nothing(runner, session, args, message):
    result = runner.invoke(args=["webhooks", "add", *args])
    assert result.exit_code == 1 and message in result.output
    assert count(session, WebhookEndpoint) == 0


def test_disable_enable_rotate_and_remove(runner, session):
    secret = secret_of(runner.invoke(args=["webhooks", "add", "https://93.184.216.34/hooks"]).output)
    endpoint_id = session.scalar(select(WebhookEndpoint.id))

    assert runner.invoke(args=["webhooks", "disable", str(endpoint_id)]).exit_code == 0
    session.rollback()
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    assert not endpoint.enabled and endpoint.disabled_reason == "disabled by staff"
    assert runner.invoke(args=["webhooks", "enable", str(endpoint_id)]).exit_code == 0
    session.rollback()
    assert session.get(WebhookEndpoint, endpoint_id).enabled

    rotated = runner.invoke(args=["webhooks", "rotate-secret", str(endpoint_id)])
    assert rotated.exit_code == 0
    session.rollback()
    assert secret_of(rotated.output) == session.get(WebhookEndpoint, endpoint_id).secret != secret

    assert runner.invoke(args=["webhooks", "remove", str(endpoint_id)]).exit_code == 0
    assert count(session, WebhookEndpoint) == 0
    missing = runner.invoke(args=["webhooks", "disable", str(endpoint_id)])
    assert missing.exit_code == 1 and f"no webhook endpoint {endpoint_id}" in missing.output
    assert runner.invoke(args=["webhooks", "enable", "seven"]).exit_code == 2


def test_removing_an_endpoint_removes_its_deliveries(outbox_app, outbox_session, receiver):
    from tests.support.outbox import add_endpoint

    add_product(outbox_session, "TEA", 10)
    endpoint_id = add_endpoint(receiver)
    place()
    run_worker(outbox_app)
    assert count(outbox_session, EventDelivery) > 0
    result = outbox_app.test_cli_runner().invoke(args=["webhooks", "remove", str(endpoint_id)])
    assert result.exit_code == 0
    assert [d.email for d in deliveries(outbox_session)] == ["ada@example.com"]  # the customer's e-mail stays


def test_test_sends_a_signed_ping_and_prints_the_answer(outbox_app, outbox_session, receiver):
    from tests.support.outbox import add_endpoint

    endpoint_id = add_endpoint(receiver)
    result = outbox_app.test_cli_runner().invoke(args=["webhooks", "test", str(endpoint_id)])
    assert result.exit_code == 0 and "HTTP 200: ok" in result.output
    (ping,) = receiver.receipts
    assert ping.verified and ping.event["type"] == "ping"

    receiver.answers = [(500, "broken")]
    failed = outbox_app.test_cli_runner().invoke(args=["webhooks", "test", str(endpoint_id)])
    assert failed.exit_code == 1 and "HTTP 500: broken" in failed.output
