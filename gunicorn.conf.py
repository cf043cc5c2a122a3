"""gunicorn's settings for the shop: ``gunicorn --config gunicorn.conf.py app:app`` (``make serve``, docs/deploy.md).

- workers: ``WEB_CONCURRENCY``, else 2 per CPU plus 1; sync workers, each serving one request at a
  time (the shop's time goes to the database, whose row locks decide the order anyway);
- timeouts: a request still running after 30 s is killed (its transaction rolls back); on a
  restart a worker has 30 s to finish the request in hand;
- metrics: every worker writes its counts into ``PROMETHEUS_MULTIPROC_DIR`` (default
  ``instance/metrics``), which ``/metrics`` adds up. The counts of processes that are gone are
  deleted when the server starts, and a worker that exits is marked dead (prometheus-client's
  ``mark_process_dead``). Give ``flask worker`` the same directory and its counts join them;
- logs: the app writes one line per request itself (``shop.logs``), so gunicorn's access log is
  off; gunicorn's own lines go to standard error, as JSON with ``SHOP_LOG_FORMAT=json``.

The address comes from the command line (``--bind 127.0.0.1:8000``, gunicorn's default).
"""

import os
from pathlib import Path

# Before anything imports prometheus-client, which reads the directory when it is imported.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(__file__).resolve().parent / "instance" / "metrics")
)

from shop import logs, serving  # noqa: E402

METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]

wsgi_app = "app:app"
workers = serving.worker_count()
worker_class = "sync"
timeout = 30
graceful_timeout = 30
keepalive = 5  # seconds an idle connection from the reverse proxy is kept
accesslog = None
errorlog = "-"
loglevel = "info"
# No gunicornc control socket: its default path (~/.gunicorn/gunicorn.ctl) is one for every gunicorn
# of the user, and nothing here uses it.
control_socket_disable = True
logconfig_dict = logs.gunicorn_logging(os.environ.get("SHOP_LOG_FORMAT", "text").strip().lower()) or {}


def on_starting(server):
    serving.prepare_metrics_directory(METRICS_DIR)


def child_exit(server, worker):
    serving.worker_exited(METRICS_DIR, worker.pid)
