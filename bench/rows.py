"""One row of results (a layer, a case, a client count), the latency summaries that fill it, and the log."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

CASES = ("hot", "spread")


def log(msg: str) -> None:
    """Print a time-stamped progress line."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Row:
    """One measured row; its fields (and ``key``) are a row of results.json."""

    layer: str  # ceiling | service | http | sqlite3 | service-sqlite | oscar | plain (the peers)
    case: str  # hot | spread
    clients: int
    status: str = "ok"  # ok | failed
    tps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    orders: int | None = None  # orders completed in the timed window (client-side count)
    errors: dict = field(default_factory=dict)
    oversold: int | None = None
    ledger_mismatches: int | None = None  # products whose ledger (Oscar: allocation) disagrees
    checks_ok: bool | None = None
    check_notes: list = field(default_factory=list)
    ratio: float | None = None  # tps / the reference (ceiling) at the same case and clients
    cpu_ms_per_order: float | None = None  # CPU of the client processes (service, sqlite3 rows)
    note: str = ""

    @property
    def key(self) -> str:
        """The row's name in results.json, e.g. ``service_hot_4``."""
        return f"{self.layer}_{self.case}_{self.clients}"


@dataclass
class Measured:
    """A row as its runner left it, with what the database must hold afterwards (for the checks)."""

    row: Row
    orders_placed: int = 0  # orders the clients counted, warm-up included: the database must hold them
    in_flight: int = 0  # orders that may have committed uncounted (requests running when wrk stopped)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile of ``values`` by nearest rank, None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[k]


def ms(seconds: float | None) -> float | None:
    """Seconds to milliseconds, rounded to the microsecond."""
    return None if seconds is None else round(seconds * 1000, 3)
