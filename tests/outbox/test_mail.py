"""E-mail reaches a real SMTP server on 127.0.0.1; without MAIL_SERVER it is written as .eml files."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import timedelta
from pathlib import Path

import time_machine
from flask_mail import Message

from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.holds import hold_until, release_expired_holds
from shop.models import utcnow
from shop.orders import change_status
from shop.outbox import mail
from shop.outbox.digest import LowProduct, low_products
from tests.support.databases import make_app
from tests.support.factories import add_place, add_product, make_user
from tests.support.outbox import deliveries, place, run_worker
from tests.support.receivers import SmtpServer, html_of, text_of


def mail_to(smtp_server, address):
    return [m for m in smtp_server.messages if m["To"] == address]


def test_a_hold_gets_a_confirmation_with_its_lines_total_link_and_how_to_pay(
    outbox_app, outbox_session, smtp_server
):
    add_product(outbox_session, "TEA", 10, price_cents=350)
    add_product(outbox_session, "CUP", 10, price_cents=1200)
    order = place(lines=[("TEA", 2), ("CUP", 1)], hold_until=hold_until(), email="ada@example.com")
    run_worker(outbox_app)

    (confirmation,) = mail_to(smtp_server, "ada@example.com")
    assert confirmation["Subject"] == f"Your order {order.number}"
    text = text_of(confirmation)
    assert "2 x Product TEA (TEA)  €7.00" in text and "1 x Product CUP (CUP)  €12.00" in text
    assert "Total: €19.00" in text
    assert f"https://shop.example/orders/{order.number}" in text, "links start with SHOP_PUBLIC_URL"
    assert f"until {order.hold_expires_at:%H:%M} UTC on {order.hold_expires_at:%Y-%m-%d}" in text
    assert "Pay now" in text
    assert f'href="https://shop.example/orders/{order.number}"' in html_of(confirmation)
    assert [d.status for d in deliveries(outbox_session) if d.email] == ["delivered"]


def test_paying_sends_a_receipt_and_a_released_hold_a_note(outbox_app, outbox_session, smtp_server):
    add_product(outbox_session, "TEA", 10)
    paid = place(hold_until=hold_until(), email="paid@example.com")
    commit_unit_of_work(lambda: change_status(db.session, paid, "paid", actor="payments"), actor="payments")
    place(hold_until=utcnow(), email="late@example.com")
    release_expired_holds()
    run_worker(outbox_app)

    assert [m["Subject"] for m in mail_to(smtp_server, "paid@example.com")] == [
        f"Your order {paid.number}",
        f"Payment received for order {paid.number}",
    ]
    (_, note) = mail_to(smtp_server, "late@example.com")
    assert note["Subject"].startswith("Your hold on order") and "ran out" in text_of(note)


def test_a_batch_of_emails_goes_through_one_smtp_connection(outbox_app, outbox_session, smtp_server):
    add_product(outbox_session, "TEA", 10)
    for name in ("ada", "bob", "cy"):
        place(hold_until=hold_until(), email=f"{name}@example.com")
    run_worker(outbox_app)
    assert sorted(m["To"] for m in smtp_server.messages) == [f"{n}@example.com" for n in ("ada", "bob", "cy")]
    assert len(set(smtp_server.peers)) == 1


def test_a_connection_the_smtp_server_closed_while_idle_is_replaced(database_urls):
    server = SmtpServer.start(timeout=0.5)  # it closes a connection idle for 0.5 s
    try:
        for app in make_app(database_urls("sqlite"), **server.config()):
            with app.app_context(), mail.one_connection():
                mail.send(Message("first", sender="shop@example.com", recipients=["ada@example.com"]))
                time.sleep(1.5)  # the server closes the connection meanwhile
                mail.send(Message("second", sender="shop@example.com", recipients=["ada@example.com"]))
    finally:
        server.stop()
    assert [m["Subject"] for m in server.messages] == ["first", "second"]
    assert len(set(server.peers)) == 2


def test_an_smtp_server_that_is_down_is_retried(database_urls, smtp_server):
    for app in make_app(database_urls("sqlite"), MAIL_SERVER="127.0.0.1", MAIL_PORT=1):  # nothing listens
        with app.app_context():
            add_product(db.session, "TEA", 10)
            place()
            run_worker(app)
            (delivery,) = deliveries(db.session)
            assert delivery.status == "pending" and delivery.last_answer.startswith("not sent")


def test_without_mail_server_each_email_is_an_eml_file(database_urls, tmp_path):
    for app in make_app(database_urls("sqlite"), SHOP_MAIL_DIR=str(tmp_path)):
        with app.app_context():
            add_product(db.session, "TEA", 10)
            number = place().number
            run_worker(app)
    (path,) = Path(tmp_path).glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"Your order {number}" and message["To"] == "ada@example.com"


def test_the_low_stock_digest_lists_what_went_low_with_days_of_cover(outbox_app, outbox_session, smtp_server):
    make_user(outbox_session, "boss@example.com")
    make_user(outbox_session, "gone@example.com").disabled_at = utcnow()
    outbox_session.commit()
    add_product(outbox_session, "TEA", 20, threshold=5)
    add_product(outbox_session, "CUP", 20, threshold=5)
    for _ in range(4):
        place(lines=[("TEA", 4)])  # 20 → 4: low; 16 sold in the last 14 days
    place(lines=[("CUP", 20)])  # out
    run_worker(outbox_app)

    (digest,) = mail_to(smtp_server, "boss@example.com")
    assert digest["Subject"] == "Low stock: 2 products"
    text = text_of(digest)
    assert "- CUP Product CUP: 0 on hand, 20 held by unpaid orders, out of stock" in text
    assert "- TEA Product TEA: 4 on hand, 16 held by unpaid orders, about 4 days at 1.1 a day" in text
    assert not mail_to(smtp_server, "gone@example.com"), "disabled staff accounts get no digest"

    place(lines=[("TEA", 1)])  # still low: not low again
    with time_machine.travel(utcnow() + timedelta(minutes=61), tick=True):
        run_worker(outbox_app)
    assert len(mail_to(smtp_server, "boss@example.com")) == 1, "nothing new went low: no digest"


def test_the_digest_waits_for_its_interval(outbox_app, outbox_session, smtp_server):
    make_user(outbox_session, "boss@example.com")
    add_product(outbox_session, "TEA", 10, threshold=5)
    add_product(outbox_session, "CUP", 10, threshold=5)
    place(lines=[("TEA", 6)])
    run_worker(outbox_app)
    place(lines=[("CUP", 6)])
    run_worker(outbox_app)
    assert len(mail_to(smtp_server, "boss@example.com")) == 1
    with time_machine.travel(utcnow() + timedelta(minutes=61), tick=True):
        run_worker(outbox_app)
    second = mail_to(smtp_server, "boss@example.com")[1]
    assert "CUP" in text_of(second) and "TEA" not in text_of(second)


def test_days_of_cover_in_words():
    assert LowProduct("A", "a", 6, 0, 3.0).cover == "about 2 days at 3 a day"
    assert LowProduct("A", "a", 1, 0, 3.0).cover == "less than a day at 3 a day"
    assert LowProduct("A", "a", 5, 0, 0.0).cover == "no sales in the last 14 days"
    assert LowProduct("A", "a", 0, 2, 1.5).cover == "out of stock"
    assert LowProduct("A", "a", 3, 0, 2.5).cover == "about 1 day at 2.5 a day"


def test_the_low_stock_digest_counts_a_product_once_with_the_units_orders_can_take(session):
    add_place(session, "floor", priority=1)
    add_place(session, "returns", fulfils=False)
    add_product(session, "TEA", at={"main": 1, "floor": 2, "returns": 9}, threshold=5)
    (tea,) = low_products(session, ["TEA"], utcnow())
    assert (tea.sku, tea.on_hand) == ("TEA", 3)  # main and the floor; the returns room's 9 do not count


def test_an_email_says_what_flask_mail_would_write_for_it(database_urls):
    """The shop serialises e-mails under a cheaper policy than Flask-Mail's: the same message, also
    with a non-ASCII subject and names and a recipient list long enough to be folded."""

    def parsed(data: bytes) -> tuple:
        message = email.message_from_bytes(data, policy=email.policy.default)
        parts = [(p.get_content_type(), p.get_content()) for p in message.walk() if not p.is_multipart()]
        return [(k, str(v)) for k, v in message.items() if k != "Content-Type"], parts

    for app in make_app(database_urls("sqlite")):
        with app.app_context():
            message = mail.message(
                "endpoint_disabled",
                [f"Staff Größe {i} <staff{i}@example.com>" for i in range(12)],
                "Ein Endpunkt wurde abgeschaltet – Größe",
                url="https://example.com/hooks",
                reason="it answered 410 Gone ✓",
            )
            ours, theirs = message.as_bytes(), Message.as_bytes(message)
    assert parsed(ours) == parsed(theirs)
    headers, parts = parsed(ours)
    assert ("Subject", "Ein Endpunkt wurde abgeschaltet – Größe") in headers
    assert [kind for kind, _ in parts] == ["text/plain", "text/html"] and "410 Gone ✓" in parts[0][1]
    assert b"\r\n" in ours and b"\n" not in ours.replace(b"\r\n", b"")
