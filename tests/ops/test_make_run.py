"""``make run`` as a newcomer meets it: the demo shop served with its worker, a checkout's confirmation
e-mail written as a file whose links point at the port it serves, and Ctrl-C stopping both processes;
SIGTERM to ``make`` alone (as a process manager stops it) stops both too.

The database and the e-mail folder are the test's (``DATABASE_URL``, ``SHOP_MAIL_DIR``), so a
developer's own ``instance/`` is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid

import pytest
import requests

from tests.support.server import ROOT, TIMEOUT, free_port, poll

OPERATOR_SETTINGS = ("SHOP_", "MAIL_", "DATABASE_URL", "RATELIMIT_", "FLASK_")


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def start_make_run(tmp_path) -> tuple[subprocess.Popen, str]:
    """``make run`` in a process group of its own, as a terminal starts it, serving: the process and its URL."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith(OPERATOR_SETTINGS)}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "SHOP_MAIL_DIR": str(tmp_path / "mail"),
        "SECRET_KEY": "make-run-test-secret",
    }
    log = tmp_path / "make-run.log"
    with log.open("wb") as output:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}", f"VENV={sys.prefix}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        assert make.poll() is None, log.read_text()
        try:
            return requests.get(f"{base}/", timeout=TIMEOUT).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        poll(serving, timeout=120, interval=0.5, what="make run to serve")
    except BaseException:
        with contextlib.suppress(ProcessLookupError):  # make may have ended, and its group with it
            os.killpg(make.pid, signal.SIGKILL)
        raise
    return make, base


def test_make_run_serves_the_demo_shop_and_its_worker_emails_a_checkout_with_links_to_its_port(tmp_path):
    make, base = start_make_run(tmp_path)
    mail_dir = tmp_path / "mail"
    try:
        answer = requests.post(
            f"{base}/api/v1/orders",
            json={
                "status": "confirmed",
                "customer": {"name": "Ada", "email": "ada@example.com"},
                "lines": [{"sku": "CUP-STONE", "quantity": 1}],
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
            timeout=TIMEOUT,
        )
        assert answer.status_code == 201, answer.text
        number = answer.json()["number"]

        # Not the hidden ``.*.eml`` the worker writes first and then renames (pathlib's glob matches it).
        emails = poll(
            lambda: [p for p in mail_dir.glob("*.eml") if not p.name.startswith(".")],
            timeout=30,
            what="the confirmation e-mail",
        )
        message = emails[0].read_text()
        assert f"Subject: Your order {number}" in message
        assert f"{base}/orders/{number}" in message
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        make.wait(timeout=30)
    poll(lambda: group_is_gone(make.pid), timeout=15, what="the server and the worker to stop")


def test_sigterm_to_make_alone_stops_the_server_and_the_worker(tmp_path):
    make, base = start_make_run(tmp_path)
    try:
        make.terminate()  # SIGTERM to make's own process, not to its group
        assert make.wait(timeout=30) != 0
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
    poll(lambda: group_is_gone(make.pid), timeout=15, what="the server and the worker to stop")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/", timeout=TIMEOUT)
