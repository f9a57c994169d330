"""Compare every view of a converted design on the same inputs, exactly.

A view is a function ``(x_float) -> float64 outputs``. The reference is the golden
model; other views (the source model's ``predict``, the HLS C-simulation, the RTL
simulation) are compared with ``np.array_equal`` row by row. A source model that is not
fully quantised (float BatchNorm, float activations) cannot be exact; its deviation is
reported instead and does not fail verification.

A view may also return :class:`Checked`: its outputs with the failures its own checks
found (the RTL testbench: outputs of the full-rate phase, TLAST, cycles against the cycle
model, a cocotb failure). Any such finding fails the view, whatever its outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import VerifyError
from .frontends import source_predict
from .reference import samples

__all__ = ["VIEWS", "Checked", "VerifyError", "ViewResult", "compare", "run_all", "samples",
           "source_predict", "table"]

View = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


@dataclass
class ViewResult:
    name: str
    rows: int
    mismatched_rows: int
    max_abs_diff: float
    must_match: bool
    seconds: float
    error: str | None = None
    #: failures the view's own checks found (each fails the view)
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.findings and (
            not self.must_match or self.mismatched_rows == 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.name,
            "rows": self.rows,
            "mismatched_rows": self.mismatched_rows,
            "max_abs_diff": self.max_abs_diff,
            "bit_exact_required": self.must_match,
            "ok": self.ok,
            "seconds": round(self.seconds, 4),
            "error": self.error,
            "findings": list(self.findings),
        }


def compare(ref: npt.NDArray[np.float64], other: npt.NDArray[np.float64]) -> tuple[int, float]:
    """Rows that differ in any element, and the largest absolute difference."""
    a = np.asarray(ref, dtype=np.float64).reshape(len(ref), -1)
    b = np.asarray(other, dtype=np.float64).reshape(len(other), -1)
    if a.shape != b.shape:
        return len(a), float("inf")
    diff = a != b
    rows = int(np.count_nonzero(diff.any(axis=1)))
    mad = float(np.abs(a - b).max(initial=0.0))
    return rows, mad


def table(results: list[ViewResult]) -> str:
    """A plain-text verification table."""
    head = f"{'view':<14}{'rows':>7}{'mismatch':>10}{'max|diff|':>12}{'time s':>9}  result"
    lines = [head, "-" * len(head)]
    for r in results:
        if r.error:
            verdict = f"ERROR: {r.error}"
        elif r.findings:
            verdict = "FAIL" + (" (MISMATCH)" if r.mismatched_rows and r.must_match else "")
        elif r.name == "reference":
            verdict = "golden"
        elif r.mismatched_rows == 0:
            verdict = "bit-exact"
        elif r.must_match:
            verdict = "MISMATCH"
        else:
            verdict = "deviates (by design: float layers or a narrowed type, see the notes)"
        lines.append(
            f"{r.name:<14}{r.rows:>7}{r.mismatched_rows:>10}{r.max_abs_diff:>12.3g}"
            f"{r.seconds:>9.3f}  {verdict}"
        )
        lines.extend(f"{'':<14}  - {f}" for f in r.findings)
    return "\n".join(lines)


@dataclass
class Checked:
    """A view's outputs and the failures its own checks found (none: it passed them)."""

    y: npt.NDArray[np.float64]
    findings: list[str]


def _reference_view(g: Any, out: str, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    from . import reference

    return reference.predict(g, x)


def _source_view(g: Any, out: str, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    import os

    from .frontends import source_predict_file
    from .project import file_sha256

    path = g.meta.get("source_model")
    if not path or not os.path.exists(path):
        raise VerifyError(f"source model {path} is no longer there")
    if file_sha256(path) != g.meta.get("source_sha256"):
        raise VerifyError(f"source model {path} changed since convert; re-run convert")
    return source_predict_file(path, x)


def _csim_view(g: Any, out: str, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    from .backends.hls import csim

    return csim.run(g, out, x)


def _csim_synth_view(g: Any, out: str, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    from .backends.hls import csim

    return csim.run(g, out, x, form="synth")


def _rtl_view(g: Any, out: str, x: npt.NDArray[np.float64]) -> Checked:
    from .backends.rtl import sim

    y, stats = sim.run(g, out, x)
    return Checked(y, list(stats["findings"]))


#: name -> (run, must be bit-exact?) ; backends add their views here.
VIEWS: dict[str, tuple[Callable[..., npt.NDArray[np.float64] | Checked],
                       Callable[[Any], bool]]] = {
    "reference": (_reference_view, lambda g: True),
    "source": (_source_view, lambda g: bool(g.meta.get("fully_quantized"))),
    "csim": (_csim_view, lambda g: True),
    "rtl": (_rtl_view, lambda g: True),
    "csim_synth": (_csim_synth_view, lambda g: True),
}
#: views run only when named (``--views``): the synthesis form of the C-simulation
#: compiles every unrolled sum, minutes for a large layer
ON_REQUEST = {"csim_synth"}


def run_all(
    g: Any, out: str, x: npt.NDArray[np.float64], views: str | None = None
) -> list[ViewResult]:
    """Run the reference and every other view; compare each with the reference."""
    import time

    names = [n for n in VIEWS if n not in ON_REQUEST] if not views else ["reference"] + [
        v for v in views.split(",") if v and v != "reference"
    ]
    for n in names:
        if n not in VIEWS:
            raise VerifyError(f"unknown view {n!r}; available: {', '.join(VIEWS)}")
    results: list[ViewResult] = []
    t0 = time.perf_counter()
    ref = _reference_view(g, out, x)
    results.append(ViewResult("reference", len(x), 0, 0.0, True, time.perf_counter() - t0))
    for n in names:
        if n == "reference":
            continue
        fn, must = VIEWS[n]
        t0 = time.perf_counter()
        try:
            view = fn(g, out, x)
        except VerifyError as e:
            results.append(ViewResult(n, len(x), len(x), float("nan"), must(g),
                                      time.perf_counter() - t0, error=str(e)))
            continue
        found: list[str] = []
        if isinstance(view, Checked):
            y, found = view.y, view.findings
        else:
            y = view
        rows, mad = compare(ref, y)
        results.append(ViewResult(n, len(x), rows, mad, must(g), time.perf_counter() - t0,
                                  findings=found))
    return results
