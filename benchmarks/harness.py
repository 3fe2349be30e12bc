"""Side-by-side timing of pyhcs and the reference it replaces, in the same process.

Each :class:`Case` times a pyhcs call and, where the reference package is importable, the
reference call on the same inputs: warm-up calls first (JIT compilation and caches excluded),
then the median of ``repeat`` timed calls. GPU calls synchronise the device before the clock
stops. Results are ratios measured in the same run, never absolute claims.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable


@dataclass
class Case:
    """One benchmark: a pyhcs call and, optionally, the reference call it replaces."""

    family: str
    name: str
    pyhcs: Callable[[], Any]
    reference: Callable[[], Any] | None = None
    reference_name: str = ""
    device: str = "cpu"
    repeat: int = 7
    warmup: int = 2
    note: str = ""
    # throughput cases: fields and decoded megabytes one pyhcs call handles
    items: int = 0
    megabytes: float = 0.0
    # filled by run_case
    pyhcs_s: float = field(default=float("nan"))
    reference_s: float = field(default=float("nan"))


def on_device(device: str, *arrays: Any) -> tuple[Any, ...]:
    """The arrays as cupy arrays for ``device == "cuda"``, unchanged for the CPU."""
    if device == "cuda":
        import cupy

        return tuple(cupy.asarray(a) for a in arrays)
    return arrays


def _synchronize(device: str) -> None:
    if device == "cuda":
        import cupy

        cupy.cuda.Device().synchronize()


def median_seconds(fn: Callable[[], Any], *, repeat: int, warmup: int, device: str = "cpu") -> float:
    """Median wall time of ``fn()`` over ``repeat`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    _synchronize(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_case(case: Case, with_reference: bool = True) -> Case:
    case.pyhcs_s = median_seconds(
        case.pyhcs, repeat=case.repeat, warmup=case.warmup, device=case.device
    )
    if with_reference and case.reference is not None:
        # the reference is slow and has no JIT: one warm-up call is enough
        try:
            case.reference_s = median_seconds(
                case.reference, repeat=max(3, case.repeat // 2), warmup=1
            )
        except ImportError as exc:  # the GPU machine has no reference packages
            case.note = (case.note + "; " if case.note else "") + f"reference not run: {exc}"
    return case


def format_table(cases: list[Case]) -> str:
    header = (
        f"{'family':<12} {'case':<44} {'device':<6} {'pyhcs ms':>10} "
        f"{'reference':<24} {'ref ms':>10} {'speedup':>9}"
    )
    lines = [header, "-" * len(header)]
    for c in cases:
        ratio = c.reference_s / c.pyhcs_s if c.reference_s == c.reference_s else float("nan")
        ref_ms = f"{c.reference_s * 1e3:10.2f}" if c.reference_s == c.reference_s else f"{'-':>10}"
        speed = f"{ratio:8.1f}x" if ratio == ratio else f"{'-':>9}"
        lines.append(
            f"{c.family:<12} {c.name:<44} {c.device:<6} {c.pyhcs_s * 1e3:10.2f} "
            f"{c.reference_name or '-':<24} {ref_ms} {speed}"
        )
        note = c.note
        if c.items and c.pyhcs_s == c.pyhcs_s:
            rate = (f"pyhcs {c.items / c.pyhcs_s:.1f} fields/s, "
                    f"{c.megabytes / c.pyhcs_s:.0f} MB/s")
            if c.reference_s == c.reference_s:
                rate += f"; reference {c.megabytes / c.reference_s:.0f} MB/s"
            note = f"{note}; {rate}" if note else rate
        if note:
            lines.append(f"{'':<12}   {note}")
    return "\n".join(lines)


def to_json(cases: list[Case]) -> str:
    rows = []
    for c in cases:
        row = {k: v for k, v in asdict(c).items() if k not in ("pyhcs", "reference")}
        row["speedup"] = c.reference_s / c.pyhcs_s if c.reference_s == c.reference_s else None
        if c.items:
            row["fields_per_s"] = c.items / c.pyhcs_s
            row["pyhcs_mb_per_s"] = c.megabytes / c.pyhcs_s
        rows.append(row)
    return json.dumps(rows, indent=2, default=str)
