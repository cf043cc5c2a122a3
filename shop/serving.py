"""What gunicorn.conf.py and ``flask doctor`` share: how many workers, and the metrics directory.

``gunicorn.conf.py`` at the repository root runs the shop (``make serve``, docs/deploy.md) with
``worker_count()`` sync workers and prometheus-client's multiprocess directory; ``flask doctor``
reads the same count to judge ``memory://`` rate limits.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import multiprocess

METRICS_FILE = re.compile(r".*_(\d+)\.db")  # prometheus-client's files: <kind>_<pid>.db


def cpu_count() -> int:
    """The CPUs this process may run on (a container's share where the system says so)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def worker_count() -> int:
    """``WEB_CONCURRENCY`` if set, else 2 per CPU plus 1 (gunicorn's advice for sync workers)."""
    configured = os.environ.get("WEB_CONCURRENCY", "").strip()
    if configured:
        count = int(configured)
        if count < 1:
            raise ValueError(f"WEB_CONCURRENCY={configured!r} must be at least 1")
        return count
    return 2 * cpu_count() + 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def prepare_metrics_directory(directory: str) -> None:
    """Create the directory, and delete the counts of processes that are gone (a previous server's).

    The counts of a process still running, such as ``flask worker`` started with the same
    directory, stay: its counters go on from where they were.
    """
    Path(directory).mkdir(parents=True, exist_ok=True)
    for path in Path(directory).iterdir():
        match = METRICS_FILE.fullmatch(path.name)
        if match and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)


def worker_exited(directory: str, pid: int) -> None:
    """A gunicorn worker is gone: prometheus-client drops its live gauges (its counters are kept)."""
    multiprocess.mark_process_dead(pid, directory)
