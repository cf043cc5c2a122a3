"""Staff: the Integrations page manages webhook endpoints and shows recent deliveries, with Retry."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from shop.outbox import EventDelivery, WebhookEndpoint
from tests.support.factories import add_product
from tests.support.outbox import add_endpoint, place, run_worker
from tests.support.readers import count, read, read_rows
from tests.support.web import flashes


@pytest.fixture
def private_webhooks(app):
    """Webhooks may go to the receiver on 127.0.0.1 (only the tests' and development's setting)."""
    app.config["SHOP_WEBHOOKS_ALLOW_PRIVATE"] = True


def endpoint_ids(session) -> list[int]:
    session.rollback()  # a fresh read, after what the requests committed
    return [row.id for row in read_rows(session, select(WebhookEndpoint.id).order_by(WebhookEndpoint.id))]


def test_integrations_needs_a_staff_login(client):
    assert client.get("/staff/integrations").status_code == 302


def test_adding_an_endpoint_shows_its_secret_once(staff_client, session):
    page = staff_client.post(
        "/staff/integrations/endpoints",
        data={
            "url": "https://93.184.216.34/hooks",
            "event_types": ["order.placed", "stock.low"],
            "description": "ERP",
        },
        follow_redirects=True,
    )
    assert page.status_code == 200
    (secret,) = re.findall(r"whsec_[A-Za-z0-9+/=]+", flashes(page.text))
    session.rollback()
    endpoint = session.scalar(select(WebhookEndpoint))
    assert (endpoint.url, endpoint.types, endpoint.description, endpoint.secret) == (
        "https://93.184.216.34/hooks",
        ["order.placed", "stock.low"],
        "ERP",
        secret,
    )
    again = staff_client.get("/staff/integrations").text
    assert "https://93.184.216.34/hooks" in again and secret not in again


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://169.254.169.254/latest/meta-data", "not public"),
        ("http://93.184.216.34/hooks", "only sent over https://"),
        ("", "Enter the endpoint"),
    ],
)
def test_an_endpoint_the_shop_will_not_call_is_refused_on_the_form(staff_client, session, url, message):
    page = staff_client.post("/staff/integrations/endpoints", data={"url": url})
    assert page.status_code == 422 and message in page.text
    assert 'aria-invalid="true"' in page.text
    assert count(session, WebhookEndpoint) == 0


def test_disable_enable_rotate_and_remove(staff_client, session, receiver, private_webhooks):
    endpoint_id = add_endpoint(receiver)
    old_secret = receiver.secret

    assert f"Endpoint {endpoint_id} disabled" in flashes(
        staff_client.post(f"/staff/integrations/endpoints/{endpoint_id}/disable", follow_redirects=True).text
    )
    session.rollback()
    assert not session.get(WebhookEndpoint, endpoint_id).enabled
    staff_client.post(f"/staff/integrations/endpoints/{endpoint_id}/enable")
    session.rollback()
    assert session.get(WebhookEndpoint, endpoint_id).enabled

    rotated = staff_client.post(
        f"/staff/integrations/endpoints/{endpoint_id}/rotate-secret", follow_redirects=True
    )
    (new_secret,) = re.findall(r"whsec_[A-Za-z0-9+/=]+", flashes(rotated.text))
    session.rollback()
    assert session.get(WebhookEndpoint, endpoint_id).secret == new_secret != old_secret

    staff_client.post(f"/staff/integrations/endpoints/{endpoint_id}/remove")
    assert endpoint_ids(session) == []
    assert staff_client.post(f"/staff/integrations/endpoints/{endpoint_id}/remove").status_code == 404


def test_send_test_event_reaches_the_endpoint_signed_and_says_what_it_answered(
    staff_client, receiver, private_webhooks
):
    endpoint_id = add_endpoint(receiver)
    page = staff_client.post(f"/staff/integrations/endpoints/{endpoint_id}/test", follow_redirects=True)
    assert f"Test event to endpoint {endpoint_id}: HTTP 200 ok" in flashes(page.text)
    (ping,) = receiver.receipts
    assert ping.verified and ping.event["type"] == "ping"


def test_recent_deliveries_show_their_last_answer_and_retry_makes_one_due_now(
    app, staff_client, session, receiver, private_webhooks
):
    receiver.answers = [(503, "down for maintenance")]
    add_product(session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    with app.app_context():
        place()
        run_worker(app)
    page = staff_client.get("/staff/integrations").text
    webhook = read(session, select(EventDelivery.id).where(EventDelivery.endpoint_id.is_not(None)))
    row = page[page.index(f'data-delivery="{webhook}"') :]
    row = row[: row.index("</tr>")]
    assert "order.placed" in row and "HTTP 503 down for maintenance" in row and "Retrying (1 attempt)" in row
    assert ">Retry<" in row

    receiver.answers = [(200, "ok")]
    assert staff_client.post(f"/staff/integrations/deliveries/{webhook}/retry").status_code == 302
    with app.app_context():
        run_worker(app)
    assert len(receiver.receipts) == 2
    delivered = staff_client.get("/staff/integrations").text
    row = delivered[delivered.index(f'data-delivery="{webhook}"') :]
    assert "Delivered" in row[: row.index("</tr>")] and ">Retry<" not in row[: row.index("</tr>")]
    assert staff_client.post(f"/staff/integrations/deliveries/{webhook}/retry").status_code == 404
