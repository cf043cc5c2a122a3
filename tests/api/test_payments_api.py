"""POST /api/v1/payments: signed notifications pay a live hold exactly once (docs/api.md, Payments)."""

import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.cli import ledger_mismatches
from shop.extensions import db
from shop.models import Order, Payment, utcnow
from shop.orders import change_status
from shop.payments import TOLERANCE, signature, verify_signature
from tests.support.api import assert_conforms
from tests.support.factories import add_product, place_hold
from tests.support.readers import count, movements, stock_of

SECRET = "whsec-test-0123456789abcdef"


@pytest.fixture
def signed_app(app):
    app.config.update(SHOP_PAYMENT_SECRET=SECRET)
    return app


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(utcnow() + timedelta(days=1), tick=False)
    return time_machine


@pytest.fixture
def hold(session, signed_app):
    add_product(session, "TEA", 10, price_cents=1250)
    return place_hold(session, ("TEA", 2))  # 2500 cents


def notification(order, *, payment_id="pay_1", amount=None, currency="EUR") -> bytes:
    return json.dumps(
        {
            "payment_id": payment_id,
            "order_number": order.number,
            "amount_cents": order.total_cents if amount is None else amount,
            "currency": currency,
        }
    ).encode()


def pay(api, body: bytes, *, secret=SECRET, at=None, header=None):
    t = int(time.time() if at is None else at)
    headers = {"Shop-Signature": header if header is not None else f"t={t},v1={signature(secret, t, body)}"}
    return api.request("POST", "/payments", data=body, content_type="application/json", headers=headers)


def status_of(session, order):
    session.expire_all()
    return session.scalar(select(Order.status).where(Order.id == order.id))


def test_a_signed_notification_pays_a_live_hold(session, api, hold):
    response = pay(api, notification(hold))
    assert response.status_code == 200, response.json
    assert response.json["order_status"] == "paid" and response.json["amount_cents"] == 2500
    assert response.headers["Idempotent-Replayed"] == "false"
    assert status_of(session, hold) == "paid"
    assert session.scalar(select(Order.hold_expires_at).where(Order.id == hold.id)) is None
    [payment] = session.scalars(select(Payment)).all()
    assert (
        payment.payment_id,
        payment.order_id,
        payment.amount_cents,
        payment.currency,
        payment.outcome,
    ) == (
        "pay_1",
        hold.id,
        2500,
        "EUR",
        "paid",
    )


def test_the_same_payment_id_again_answers_the_same_and_changes_nothing(session, api, hold):
    first = pay(api, notification(hold))
    again = pay(api, notification(hold))
    assert again.status_code == 200 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(session, Payment) == 1


def test_a_payment_id_already_used_for_another_order_is_refused_and_that_order_stays_unpaid(
    session, api, hold
):
    other = place_hold(session, ("TEA", 2), email="grace@example.com")
    assert pay(api, notification(hold)).status_code == 200
    response = pay(api, notification(other))  # the same payment_id, for another order of the same total
    assert response.status_code == 409 and response.json["code"] == "payment_id_reused", response.json
    assert other.number not in response.get_data(as_text=True)
    assert (status_of(session, hold), status_of(session, other)) == ("paid", "confirmed")
    assert count(session, Payment) == 1


@pytest.mark.parametrize("changes", [{"amount": 2400}, {"currency": "USD"}], ids=["amount", "currency"])
def test_a_payment_id_already_used_with_another_amount_or_currency_is_refused(session, api, hold, changes):
    first = pay(api, notification(hold))
    response = pay(api, notification(hold, **changes))
    assert response.status_code == 409 and response.json["code"] == "payment_id_reused"
    assert pay(api, notification(hold)).json == first.json  # the same notification still replays
    assert count(session, Payment) == 1


def test_a_known_payment_id_with_an_unknown_order_is_refused_as_reused(session, api, hold):
    pay(api, notification(hold))
    body = json.dumps(
        {
            "payment_id": "pay_1",
            "order_number": "AAAA-BBBB-CCCC-DDDD",
            "amount_cents": 2500,
            "currency": "EUR",
        }
    )
    response = pay(api, body.encode())
    assert response.status_code == 409 and response.json["code"] == "payment_id_reused"


@pytest.mark.parametrize("round_", range(4))
def test_one_payment_id_for_two_orders_at_once_pays_exactly_one(server_app, round_):
    """The later one sees the earlier's payment, or (a real race) both pass every check and the unique
    payment_id decides when the first commits: either way one order is paid, the other is refused."""
    server_app.config.update(SHOP_PAYMENT_SECRET=SECRET)
    with server_app.app_context():
        add_product(db.session, "TEA", 10, price_cents=1250)
        holds = [place_hold(db.session, ("TEA", 2), email=f"buyer{n}@example.com") for n in range(2)]
        bodies = [notification(order, payment_id=f"pay-race-{round_}") for order in holds]
        numbers = [order.number for order in holds]
    barrier = threading.Barrier(len(bodies))

    def send(body):
        client = server_app.test_client()
        t = int(time.time())
        barrier.wait(timeout=30)
        response = client.post(
            "/api/v1/payments",
            data=body,
            content_type="application/json",
            headers={"Shop-Signature": f"t={t},v1={signature(SECRET, t, body)}"},
        )
        assert_conforms(server_app, "POST", "/api/v1/payments", response)
        return response.status_code, response.json

    with ThreadPoolExecutor(len(bodies)) as pool:
        results = list(pool.map(send, bodies))
    assert sorted(status for status, _ in results) == [200, 409], results
    [(paid_number, _)] = [(answer["order_number"], answer) for status, answer in results if status == 200]
    [refused] = [answer for status, answer in results if status == 409]
    assert refused["code"] == "payment_id_reused"
    with server_app.app_context():
        statuses = dict(db.session.execute(select(Order.number, Order.status)).all())
        paid = db.session.execute(select(Payment.payment_id, Order.number).join(Order)).all()
    assert statuses == {n: "paid" if n == paid_number else "confirmed" for n in numbers}
    assert [tuple(row) for row in paid] == [(f"pay-race-{round_}", paid_number)]


PAST = TOLERANCE + 10


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, t: f"t={t},v1={signature('wrong-secret', t, body)}", id="forged"),
        pytest.param(lambda body, t: f"t={t},v1={signature(SECRET, t, body + b' ')}", id="other-body"),
        # Well beyond the tolerance: ``t`` is the whole seconds of the time before the request, and the
        # shop judges at its own time (t + 301 passed whenever the fraction and the request made a second).
        pytest.param(lambda body, t: f"t={t - PAST},v1={signature(SECRET, t - PAST, body)}", id="stale"),
        pytest.param(lambda body, t: f"t={t + PAST},v1={signature(SECRET, t + PAST, body)}", id="future"),
        pytest.param(lambda body, t: f"v1={signature(SECRET, t, body)}", id="no-timestamp"),
        pytest.param(lambda body, t: f"t={t}", id="no-signature"),
        pytest.param(lambda body, t: "", id="empty"),
        pytest.param(lambda body, t: "t=abc,v1=00", id="garbage"),
    ],
)
def test_unsigned_forged_or_stale_notifications_are_refused_and_write_nothing(session, api, hold, tamper):
    body = notification(hold)
    response = pay(api, body, header=tamper(body, int(time.time())))
    assert response.status_code == 401 and response.json["code"] == "invalid_signature"
    assert status_of(session, hold) == "confirmed" and count(session, Payment) == 0


@pytest.mark.parametrize("offset", [-TOLERANCE, TOLERANCE])
def test_a_signature_exactly_the_tolerance_away_is_accepted_and_a_second_more_is_not(offset):
    body, now = b'{"x":1}', 1_800_000_000
    signed = now + offset
    assert verify_signature(SECRET, f"t={signed},v1={signature(SECRET, signed, body)}", body, now=now) is None
    signed += 1 if offset > 0 else -1
    refusal = verify_signature(SECRET, f"t={signed},v1={signature(SECRET, signed, body)}", body, now=now)
    assert refusal == f"the signature's timestamp is more than {TOLERANCE} seconds away"


def test_a_missing_signature_header_is_refused(session, api, hold):
    body = notification(hold)
    response = api.request("POST", "/payments", data=body, content_type="application/json")
    assert response.status_code == 401 and status_of(session, hold) == "confirmed"


def test_without_a_configured_secret_every_notification_is_refused(session, api, hold, signed_app):
    signed_app.config.update(SHOP_PAYMENT_SECRET=None)
    assert pay(api, notification(hold)).status_code == 401
    assert status_of(session, hold) == "confirmed"


def test_a_notification_for_an_expired_hold_releases_it_and_answers_409(session, api, hold, clock):
    clock.shift(timedelta(minutes=16))
    response = pay(api, notification(hold))
    assert response.status_code == 409 and response.json["code"] == "hold_expired"
    assert status_of(session, hold) == "cancelled" and stock_of(session, "TEA") == 10
    assert [(m.delta, m.actor) for m in movements(session, "TEA", reason="hold_expired")] == [(2, "system")]
    assert count(session, Payment) == 0
    again = pay(api, notification(hold))  # the provider retries: the hold stays released, once
    assert again.status_code == 409 and again.json["code"] == "hold_expired"
    assert len(movements(session, "TEA", reason="hold_expired")) == 1
    assert ledger_mismatches() == []


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"amount": 2499}, "amount_mismatch"),
        ({"amount": 2501}, "amount_mismatch"),
        ({"currency": "USD"}, "currency_mismatch"),
    ],
)
def test_an_amount_or_currency_mismatch_is_422_and_writes_nothing(session, api, hold, changes, code):
    response = pay(api, notification(hold, **changes))
    assert response.status_code == 422 and response.json["code"] == code
    assert status_of(session, hold) == "confirmed" and count(session, Payment) == 0


def test_an_unknown_order_is_404(session, api, signed_app):
    body = json.dumps(
        {"payment_id": "p", "order_number": "AAAA-BBBB-CCCC-DDDD", "amount_cents": 1, "currency": "EUR"}
    )
    response = pay(api, body.encode())
    assert response.status_code == 404 and response.json["code"] == "order_not_found"


@pytest.mark.parametrize("status", ["paid", "cancelled"])
def test_an_order_that_is_not_awaiting_payment_is_not_payable(session, api, hold, status):
    change_status(session, hold, status, actor="staff:x")
    session.commit()
    response = pay(api, notification(hold, payment_id="pay_2"))
    assert response.status_code == 409 and response.json["code"] == "not_payable"
    assert count(session, Payment) == 0


def test_the_body_must_match_the_schema(session, api, hold):
    body = json.dumps({"payment_id": "p", "order_number": hold.number, "amount_cents": "25.00"}).encode()
    response = pay(api, body)
    assert response.status_code == 422 and response.json["code"] == "invalid_request"
    assert session.scalar(select(func.count()).select_from(Payment)) == 0


def test_the_documented_openssl_signature_is_the_one_the_shop_checks(signed_app):
    body = b'{"payment_id": "pay_123", "order_number": "K7QM-2XPA-9RTD-F3HW", "amount_cents": 2500}'
    t = 1764400000
    shell = subprocess.run(
        [
            "bash",
            "-c",
            'printf \'%s.%s\' "$T" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d\' \' -f1',
        ],
        env={"T": str(t), "BODY": body.decode(), "SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.strip() == signature(SECRET, t, body)
