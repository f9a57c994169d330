"""How closely the hardware follows the float model it was converted from.

The hardware's outputs are the reference model's (:mod:`generator.reference`), which
``nnfab verify`` proves equal to the C-simulation and the RTL simulation bit for bit.
:func:`measure` runs the reference on the validation inputs (``--validate``, else the
calibration inputs) next to the float model's own per-layer outputs
(:class:`generator.calibrate.Calibration`) and records:

* ``argmax_agreement`` -- the fraction of inputs whose largest hardware output is the
  float model's largest output (a classifier's decision). When the hardware's largest
  value is shared by several outputs (a table softmax can round two close probabilities
  to one value), the input counts as agreeing only when the float model's choice is the
  hardware's first largest output, as an ``argmax`` reading the outputs would decide;
  such ties are counted in ``argmax_ties``. A model ending in a softmax is also measured
  before it (``pre_softmax_argmax_agreement``: the softmax does not change the order, so
  this is the decision of the layers before it alone);
* per output: the largest and the mean ``|hardware - float|``;
* per layer of the source model: the largest and mean ``|hardware - float|`` of its
  output, with the float output's largest magnitude for scale, so a user sees at which
  layer precision is lost.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .ir import Graph, Node, Softmax


def _layer_nodes(g: Graph) -> dict[str, Node]:
    """Per source layer, the last node built from it (its output)."""
    last: dict[str, Node] = {}
    for n in g.nodes:
        if n["source"]:
            last[n["source"]] = n
    return last


def argmax_stats(hw: npt.NDArray[np.float64], fl: npt.NDArray[np.float64]) -> dict[str, Any]:
    """Argmax agreement of two ``(N, k)`` output arrays and the hardware's top ties."""
    h = hw.reshape(len(hw), -1)
    f = fl.reshape(len(fl), -1)
    top = h.max(axis=1, keepdims=True)
    ties = int(np.count_nonzero((h == top).sum(axis=1) > 1))
    agree = np.argmax(h, axis=1) == np.argmax(f, axis=1)
    return {"argmax_agreement": float(agree.mean()), "argmax_ties": ties}


def measure(g: Graph, cal: Any) -> dict[str, Any]:
    """The accuracy record (``meta["accuracy"]``) of graph ``g`` against the float
    outputs kept by calibration ``cal`` on its validation inputs."""
    from . import reference

    x = cal.x_val
    vals = reference.run(g, x, keep=True)
    out = g.outputs[0]
    y_hw = out.ftype.to_float(vals[out.name]).reshape(len(x), -1)
    y_fl = np.asarray(cal.y_float, np.float64).reshape(len(x), -1)
    doc: dict[str, Any] = {"samples": len(x), "validation": cal.validation_name}
    if y_hw.shape != y_fl.shape:
        doc["error"] = (f"the hardware output has {y_hw.shape[1]} values per input, the float "
                        f"model {y_fl.shape[1]}")
        return doc
    d = np.abs(y_hw - y_fl)
    doc["outputs"] = [{"index": j, "max_abs_diff": float(d[:, j].max()),
                       "mean_abs_diff": float(d[:, j].mean())} for j in range(d.shape[1])]
    doc["max_abs_diff"] = float(d.max(initial=0.0))
    doc["mean_abs_diff"] = float(d.mean()) if d.size else 0.0
    if y_hw.shape[1] > 1:
        doc.update(argmax_stats(y_hw, y_fl))
        sm = out.producer
        if isinstance(sm, Softmax):
            logits = sm.input.ftype.to_float(vals[sm.input.name]).reshape(len(x), -1)
            doc["pre_softmax_argmax_agreement"] = argmax_stats(logits, y_fl)["argmax_agreement"]
    rows = []
    nodes = _layer_nodes(g)
    for name, fv in cal.outputs.items():
        n = nodes.get(name)
        if n is None:
            continue
        hv = n.output.ftype.to_float(vals[n.output.name]).reshape(len(x), -1)
        f = np.asarray(fv, np.float64).reshape(len(x), -1)
        if hv.shape != f.shape:
            continue
        dd = np.abs(hv - f)
        rows.append({"layer": name, "node": n.name, "type": n.output.ftype.cpp(),
                     "float_max_abs": float(np.abs(f).max(initial=0.0)),
                     "max_abs_diff": float(dd.max(initial=0.0)),
                     "mean_abs_diff": float(dd.mean()) if dd.size else 0.0})
    doc["layers"] = rows
    return doc


def summary_line(acc: dict[str, Any]) -> str:
    """One line: agreement with the float model (what ``nnfab convert`` prints)."""
    if acc.get("error"):
        return f"accuracy: not measured ({acc['error']})"
    parts = []
    if "argmax_agreement" in acc:
        parts.append(f"argmax agreement {100 * acc['argmax_agreement']:.1f} %")
        if "pre_softmax_argmax_agreement" in acc:
            parts.append(f"before the softmax {100 * acc['pre_softmax_argmax_agreement']:.1f} %")
    parts.append(f"max |diff| {acc['max_abs_diff']:.3g}, mean {acc['mean_abs_diff']:.3g}")
    worst = max(acc.get("layers", []), key=lambda r: _relative(r), default=None)
    if worst is not None:
        parts.append(f"largest layer deviation {worst['layer']} ({worst['max_abs_diff']:.3g} "
                     f"of {worst['float_max_abs']:.3g})")
    return (f"accuracy vs the float model on {acc['samples']} inputs ({acc['validation']}): "
            + "; ".join(parts))


def _relative(r: dict[str, Any]) -> float:
    return r["max_abs_diff"] / r["float_max_abs"] if r["float_max_abs"] else r["max_abs_diff"]


def markdown(acc: dict[str, Any]) -> list[str]:
    """The report.md section."""
    lines = ["## Accuracy against the float model", ""]
    if acc.get("error"):
        return lines + [f"not measured: {acc['error']}"]
    lines.append(f"The hardware (reference model = C-sim = RTL) against the float model on "
                 f"{acc['samples']} inputs ({acc['validation']}).")
    lines.append("")
    if "argmax_agreement" in acc:
        lines.append(f"- argmax agreement: **{100 * acc['argmax_agreement']:.2f} %** "
                     f"({acc['argmax_ties']} inputs with tied largest hardware outputs)")
        if "pre_softmax_argmax_agreement" in acc:
            lines.append(f"- argmax agreement before the softmax: "
                         f"{100 * acc['pre_softmax_argmax_agreement']:.2f} %")
    lines.append(f"- max |diff| {acc['max_abs_diff']:.4g}, mean |diff| "
                 f"{acc['mean_abs_diff']:.4g}")
    lines += ["", "| output | max abs diff | mean abs diff |", "|---|---|---|"]
    for r in acc["outputs"]:
        lines.append(f"| {r['index']} | {r['max_abs_diff']:.4g} | {r['mean_abs_diff']:.4g} |")
    if acc.get("layers"):
        lines += ["", "Per layer (its output in the hardware against the float layer's):", "",
                  "| layer | type | float max abs | max abs diff | mean abs diff |",
                  "|---|---|---|---|---|"]
        for r in acc["layers"]:
            lines.append(f"| {r['layer']} | `{r['type']}` | {r['float_max_abs']:.4g} | "
                         f"{r['max_abs_diff']:.4g} | {r['mean_abs_diff']:.4g} |")
    return lines
