"""The stock-over-time chart of a product page, drawn on the server as SVG geometry.

Stock is a step function (it changes at each ledger row and holds until the next), so
the line is a stepped polyline of ``quantity_after`` against time, extended to ``now``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT = 720, 260  # about the width of the chart on a desktop product page
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 48, 20, 16, 36


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"


@dataclass(frozen=True)
class StockChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: str  # the polyline's "x,y x,y …"
    area: str  # the path filled under the line
    last_point: tuple[float, float]
    threshold_y: float
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    title: str
    description: str


def nice_step(maximum: float, intervals: int = 4) -> int:
    """A round step (1, 2, 5 × 10ⁿ) that splits ``0..maximum`` into about ``intervals`` parts."""
    raw = max(maximum, 1) / intervals
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if multiple * magnitude >= raw:
            return max(1, int(multiple * magnitude))
    raise AssertionError("unreachable")


def _time_label(value: datetime, span_seconds: float) -> str:
    if span_seconds < 2 * 86400:
        return f"{value.day} {value:%b %H:%M}"
    return f"{value.day} {value:%b %Y}"


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def stock_chart(
    history: Sequence[tuple[datetime, int]],
    *,
    threshold: int,
    sku: str,
    now: datetime,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> StockChart | None:
    """Geometry for ``history`` ((time, quantity after), oldest first); None when it is empty."""
    if not history:
        return None
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    times = [t for t, _ in history]
    values = [q for _, q in history]
    start, end = times[0], max(times[-1], now)
    span = (end - start).total_seconds()

    step = nice_step(max(*values, threshold))
    y_max = step * math.ceil(max(*values, threshold, 1) / step)

    def x_of(index: int, when: datetime) -> float:
        if span <= 0:  # every row at the same instant: spread them out in ledger order
            return left + (right - left) * index / max(len(history) - 1, 1)
        return left + (right - left) * (when - start).total_seconds() / span

    def y_of(quantity: float) -> float:
        return bottom - (bottom - top) * quantity / y_max

    coords = [(x_of(0, times[0]), y_of(values[0]))]
    for i in range(1, len(history)):
        x = x_of(i, times[i])
        coords += [(x, y_of(values[i - 1])), (x, y_of(values[i]))]
    if span > 0:
        coords.append((right, y_of(values[-1])))
    points = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in coords)
    area = (
        f"M{_fmt(coords[0][0])},{_fmt(bottom)} "
        + " ".join(f"L{_fmt(x)},{_fmt(y)}" for x, y in coords)
        + f" L{_fmt(coords[-1][0])},{_fmt(bottom)} Z"
    )

    y_ticks = [Tick(round(y_of(v), 1), str(v), "end") for v in range(0, y_max + 1, step)]
    x_ticks = [Tick(left, _time_label(start, span), "start")]
    if span > 0:
        x_ticks.append(Tick(right, _time_label(end, span), "end"))

    first, last = values[0], values[-1]
    description = (
        f"{len(history)} stock change{'s' if len(history) != 1 else ''} from "
        f"{start:%Y-%m-%d %H:%M} to {times[-1]:%Y-%m-%d %H:%M} UTC. Stock went from {first} to {last}; "
        f"lowest {min(values)}, highest {max(values)}. Low-stock threshold: {threshold}."
    )
    return StockChart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        points=points,
        area=area,
        last_point=(round(coords[-1][0], 1), round(coords[-1][1], 1)),
        threshold_y=round(y_of(threshold), 1),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        title=f"Stock of {sku} over time",
        description=description,
    )
