"""Per-layer report of a typed graph: types, MACs, nonzeros (``report.json``, ``report.md``).

Later stages (estimates, synthesis) add keys to the same per-layer records.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .ir import Dense, Graph, Node


def layer_rows(g: Graph) -> list[dict[str, Any]]:
    rows = []
    for n in g.nodes:
        r: dict[str, Any] = {
            "name": n.name,
            "op": n.OP,
            "source": n["source"],
            "shape": list(n.output.shape),
            "type": n.output.ftype.cpp(),
            "exact": bool(n["exact"]),
        }
        if isinstance(n, Dense):
            w = n.weights["weight"]
            r["weight_type"] = w.ftype.cpp()
            b = n.weights.get("bias")
            r["bias_type"] = b.ftype.cpp() if b is not None else None
            r["weights"] = int(w.data.size)
            r["nonzero"] = int(n["nnz"]) if n["nnz"] is not None else None
            r["sparsity"] = round(1 - (r["nonzero"] or 0) / max(1, r["weights"]), 4)
            r["macs"] = int(w.data.size)
            r["nonzero_macs"] = r["nonzero"]
            r["reuse"] = n["reuse"]
            r["strategy"] = n["strategy"]
        rows.append(r)
    return rows


def summary(g: Graph) -> dict[str, Any]:
    dense: list[Node] = g.of(Dense)
    weights = sum(n.weights["weight"].data.size for n in dense)
    nnz = sum(int(n["nnz"] or 0) for n in dense)
    return {
        "model": g.name,
        "inputs": {t.name: {"shape": list(t.shape), "type": t.ftype.cpp()} for t in g.inputs},
        "outputs": {t.name: {"shape": list(t.shape), "type": t.ftype.cpp()} for t in g.outputs},
        "weights": int(weights),
        "nonzero_weights": int(nnz),
        "sparsity": round(1 - nnz / max(1, weights), 4),
        "fully_quantized": bool(g.meta.get("fully_quantized", False)),
        "notes": g.meta.get("notes", []),
    }


def text_table(rows: list[dict[str, Any]]) -> str:
    head = f"{'layer':<22}{'op':<11}{'shape':<12}{'type':<36}{'weights':>8}{'nonzero':>8}{'sparse':>7}"
    out = [head, "-" * len(head)]
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        w = str(r.get("weights", "")) if "weights" in r else ""
        nz = str(r.get("nonzero", "")) if "nonzero" in r else ""
        sp = f"{100 * r['sparsity']:.0f}%" if "sparsity" in r else ""
        out.append(f"{r['name']:<22}{r['op']:<11}{shape:<12}{r['type']:<36}{w:>8}{nz:>8}{sp:>7}")
        if "weight_type" in r:
            out.append(f"{'':<22}{'':<11}{'':<12}weights {r['weight_type']}")
    return "\n".join(out)


def markdown(g: Graph, rows: list[dict[str, Any]]) -> str:
    s = summary(g)
    lines = [
        f"# nnfab report: {g.name}",
        "",
        f"- weights: {s['weights']}, nonzero: {s['nonzero_weights']} "
        f"({100 * s['sparsity']:.1f} % pruned)",
        f"- fully quantized source (bit-exact vs source expected): {s['fully_quantized']}",
        "",
        "| layer | op | shape | type | weights | nonzero | reuse |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['op']} | {'x'.join(map(str, r['shape']))} | `{r['type']}` | "
            f"{r.get('weights', '')} | {r.get('nonzero', '')} | {r.get('reuse', '')} |"
        )
    for note in s["notes"]:
        lines.append(f"\n> {note}")
    return "\n".join(lines) + "\n"


def write(g: Graph, out: str) -> None:
    rows = layer_rows(g)
    doc = {"summary": summary(g), "layers": rows}
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown(g, rows))
