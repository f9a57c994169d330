"""Per-layer report of a typed graph (``OUT/report.json``, ``OUT/report.md``, ``OUT/plots``).

Per layer: types, MACs, nonzeros and sparsity (:func:`layer_rows`), then the RTL
estimate of :mod:`generator.estimate` (implementation, latency / II cycles, DSP, BRAM18,
LUT, FF), the board fit of :mod:`generator.fit` when the project was converted
with ``--fit``, and the roofline data (arithmetic intensity and MAC/s of each Dense layer
against the board's compute and memory roofs). :func:`write` writes all of it and the
PNG plots of :mod:`generator.plots`; :func:`text` is the table ``nnfab report`` prints.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from .ir import Conv, Dense, Graph, Merge, Node, Threshold

#: clock assumed for MAC/s when the project has no board
DEFAULT_CLOCK_MHZ = 100.0


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
        if isinstance(n, (Dense, Conv)):
            w = n.weights["weight"]
            # a Conv applies its weights once per output pixel
            pixels = n.output.size // n.output.shape[-1] if isinstance(n, Conv) else 1
            r["weight_type"] = w.ftype.cpp()
            b = n.weights.get("bias")
            r["bias_type"] = b.ftype.cpp() if b is not None else None
            r["weights"] = int(w.data.size)
            r["nonzero"] = int(n["nnz"]) if n["nnz"] is not None else None
            r["sparsity"] = round(1 - (r["nonzero"] or 0) / max(1, r["weights"]), 4)
            r["macs"] = int(w.data.size) * pixels
            r["nonzero_macs"] = (r["nonzero"] or 0) * pixels
            r["reuse"] = n["reuse"]
            r["unread"] = int(n["unread"] or 0)  # units whose weights passes.dead_units dropped
            r["strategy"] = n["strategy"] if isinstance(n, Dense) else (
                "resource" if int(n["reuse"]) > 1 else "latency")
        if isinstance(n, Merge):
            r["mode"] = n["mode"]
        if isinstance(n, Threshold):
            r["function"] = n["function"]
            r["thresholds"] = int(n.weights["thresholds"].data.size)
        rows.append(r)
    return rows


def summary(g: Graph) -> dict[str, Any]:
    dense: list[Node] = [n for n in g.nodes if isinstance(n, (Dense, Conv))]
    weights = sum(n.weights["weight"].data.size for n in dense)
    nnz = sum(int(n["nnz"] or 0) for n in dense)
    return {
        "model": g.name,
        "inputs": {t.name: {"shape": list(t.shape), "type": t.ftype.cpp()} for t in g.inputs},
        "outputs": {t.name: {"shape": list(t.shape), "type": t.ftype.cpp()} for t in g.outputs},
        "weights": int(weights),
        "nonzero_weights": int(nnz),
        "sparsity": round(1 - nnz / max(1, weights), 4),
        "unread_units": {n.name: int(n["unread"]) for n in dense if n["unread"]},
        "fully_quantized": bool(g.meta.get("fully_quantized", False)),
        "notes": g.meta.get("notes", []),
        "host": host_split(g),
    }


def host_split(g: Graph) -> dict[str, list[str]]:
    """Which source nodes run where: ``pre`` / ``post`` (host pre- and post-processing,
    float32, one line per source node) and ``hardware`` (the IR nodes' source names)."""
    from .host import describe, plan

    h = plan(g.meta)
    hw = [str(n["source"] or n.name) for n in g.nodes if n.OP != "Input"]
    return {"pre": [describe(o) for o in h["pre"]], "hardware": hw,
            "post": [describe(o) for o in h["post"]]}


def host_lines(g: Graph) -> list[str]:
    """The hardware / host split as text lines (none for a model without host work)."""
    h = host_split(g)
    if not h["pre"] and not h["post"]:
        return []
    return ["host pre-processing (float32, before the hardware input): "
            + ("; ".join(h["pre"]) or "none"),
            "hardware: " + ", ".join(h["hardware"]),
            "host post-processing (float32, after the hardware output): "
            + ("; ".join(h["post"]) or "none")]


def text_table(rows: list[dict[str, Any]]) -> str:
    head = f"{'layer':<22}{'op':<11}{'shape':<12}{'type':<36}{'weights':>8}{'nonzero':>8}{'sparse':>7}"
    out = [head, "-" * len(head)]
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        w = str(r.get("weights", "")) if "weights" in r else ""
        nz = str(r.get("nonzero", "")) if "nonzero" in r else ""
        sp = f"{100 * r['sparsity']:.0f}%" if "sparsity" in r else ""
        op = f"{r['op']} {r['mode']}" if "mode" in r else r["op"]  # Merge sub / max / ...
        out.append(f"{r['name']:<22}{op:<11}{shape:<12}{r['type']:<36}{w:>8}{nz:>8}{sp:>7}")
        if "weight_type" in r:
            out.append(f"{'':<22}{'':<11}{'':<12}weights {r['weight_type']}")
        if r.get("unread"):
            k = r["unread"]
            out.append(f"{'':<22}{'':<11}{'':<12}{k} unit{'s' if k > 1 else ''} no later layer "
                       "reads: weights dropped")
        if "thresholds" in r:
            out.append(f"{'':<22}{'':<11}{'':<12}{r['function']}: {r['thresholds']} thresholds")
    return "\n".join(out)


def estimate_doc(g: Graph) -> dict[str, Any]:
    """The RTL estimate (``{"layers", "total"}``), or ``{"error": ...}`` when the RTL
    backend cannot render the graph."""
    from . import estimate
    from .errors import RTLUnsupported

    try:
        return estimate.estimate(g)
    except RTLUnsupported as e:
        return {"layers": [], "total": {}, "error": str(e)}


def _board(g: Graph) -> Any:
    name = g.meta.get("board")
    if not name:
        return None
    from .boards import BoardError, load_board

    try:
        return load_board(name)
    except BoardError:
        return None


def roofline_doc(g: Graph, est: dict[str, Any]) -> dict[str, Any] | None:
    """Roofline data: per Dense and Conv layer its arithmetic intensity (nonzero MACs per byte of
    weights read and activations in + out) and MAC/s at the design's II; the board's
    roofs (:func:`generator.fit.bound`)."""
    if not est.get("total"):
        return None
    b = _board(g)
    clock = float(b.clock_mhz) if b else DEFAULT_CLOCK_MHZ
    ii = max(1, int(est["total"]["ii_cycles"]))
    layers = []
    for n in g.nodes:
        if not isinstance(n, (Dense, Conv)):
            continue
        # a Conv applies its nonzero weights once per output pixel (and reads them again)
        pixels = n.output.size // n.output.shape[-1] if isinstance(n, Conv) else 1
        nnz = int(n["nnz"] or 0) * pixels
        wbits = n.weights["weight"].ftype.width
        moved = (nnz * wbits + n.input.size * n.input.ftype.width
                 + n.output.size * n.output.ftype.width) / 8.0
        layers.append({
            "name": n.name,
            "nonzero_macs": nnz,
            "bytes": moved,
            "intensity_macs_per_byte": nnz / moved if moved else 0.0,
            "macs_per_s": nnz * clock * 1e6 / ii,
        })
    doc: dict[str, Any] = {"board": b.name if b else None, "clock_mhz": clock,
                           "ii_cycles": ii, "layers": layers}
    if b is not None:
        fitdoc = g.meta.get("fit")
        if fitdoc and fitdoc.get("board") == b.name:
            bd = fitdoc["bound"]
        else:
            from .fit import bound

            bd = bound(g, b)
        macs = bd["nonzero_macs"] or 1.0
        doc.update({
            "compute_macs_per_s": bd["compute_roof_inferences_per_s"] * macs,
            "dsp_macs_per_s": bd["dsp_only_roof_inferences_per_s"] * macs,
            "bram_bytes_per_s": bd["bram_bandwidth_bytes_per_s"],
            "onchip_read_bytes_per_s": bd.get("onchip_read_bandwidth_bytes_per_s"),
            "offchip_bytes_per_s": bd["offchip_bandwidth_bytes_per_s"],
            "bound_inferences_per_s": bd["bound_inferences_per_s"],
            "achieved_inferences_per_s": clock * 1e6 / ii,
        })
        doc["fraction_of_bound"] = doc["achieved_inferences_per_s"] / doc["bound_inferences_per_s"]
    return doc


def merged_rows(rows: list[dict[str, Any]], est: dict[str, Any]) -> list[dict[str, Any]]:
    """``rows`` with each layer's estimate (impl, cycles, DSP/BRAM18/LUT/FF) merged in."""
    by = {r["name"]: r for r in est.get("layers", [])}
    out = []
    for r in rows:
        e = by.get(r["name"])
        m = dict(r)
        if e:
            for k in ("impl", "latency_cycles", "ii_cycles", "dsp", "bram18", "lut", "ff",
                      "multipliers"):
                if k in e:
                    m[k] = e[k]
        out.append(m)
    return out


def _mults(r: dict[str, Any]) -> str:
    """A folded layer's multiplier count and what they are (``30 (add/sub)``)."""
    if "multipliers" not in r:
        return ""
    return f"{r['multipliers']} ({r['datapath']})" if r.get("datapath") else str(r["multipliers"])


def _fmt(v: Any, spec: str = "") -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, spec)


def markdown(g: Graph, rows: list[dict[str, Any]], doc: dict[str, Any] | None = None) -> str:
    s = summary(g)
    doc = doc or {}
    est = doc.get("estimate") or {}
    lines = [
        f"# nnfab report: {g.name}",
        "",
        (f"- weights: {s['weights']}, nonzero: {s['nonzero_weights']} "
        f"({100 * s['sparsity']:.1f} % pruned)"),
        *(["- units no later layer reads (their weights dropped; outputs unchanged): "
           + ", ".join(f"{k} {v}" for k, v in s["unread_units"].items())]
          if s["unread_units"] else []),
        f"- fully quantized source (bit-exact vs source expected): {s['fully_quantized']}",
        f"- board: {g.meta.get('board') or 'none'}",
        "",
        "## Layers",
        "",
        "| layer | op | shape | type | weights | nonzero | sparsity | strategy | reuse |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sp = f"{100 * r['sparsity']:.1f} %" if "sparsity" in r else ""
        lines.append(
            f"| {r['name']} | {r['op']} | {'x'.join(map(str, r['shape']))} | `{r['type']}` | "
            f"{r.get('weights', '')} | {_fmt(r.get('nonzero'))} | {sp} | "
            f"{r.get('strategy', '') or ''} | {_fmt(r.get('reuse'))} |"
        )
    lines += ["", "## Resources and cycles (RTL estimate)", ""]
    if est.get("error"):
        lines.append(f"RTL estimate unavailable: {est['error']}")
    elif est.get("layers"):
        lines += [
            ("| layer | implementation | multipliers | latency (cycles) | II (cycles) | DSP | "
            "BRAM18 | LUT | FF |"),
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in est["layers"]:
            lines.append(
                f"| {r['name']} | {r['impl']} | {_mults(r)} | "
                f"{r['latency_cycles']} | {r['ii_cycles']} | {r['dsp']} | {r['bram18']} | "
                f"{r['lut']} | {r['ff']} |")
        t = est["total"]
        lines.append(
            f"| **total** | | | **{t['latency_cycles']}** | **{t['ii_cycles']}** | "
            f"**{t['dsp']}** | **{t['bram18']}** | **{t['lut']}** | **{t['ff']}** |")
        lines += ["", ("Latency counts the 1-cycle input register; the design II is the "
                  "largest layer II. Resources are estimates (generator/estimate.py); "
                  "`nnfab report OUT --synth` adds Yosys counts.")]
        from .estimate import skip_lines, timing_lines

        lines += [f"- {x}" for x in skip_lines(est) + timing_lines(est)]
    if doc.get("accuracy"):
        from .accuracy import markdown as accuracy_md

        lines += ["", *accuracy_md(doc["accuracy"])]
    if doc.get("calibration"):
        cal = doc["calibration"]
        lines += ["", "## Calibrated types", "",
                  (f"From {cal['samples']} inputs, {cal['bits']}-bit budget, "
                   f"{cal['margin_bits']} integer bit of headroom over each activation's "
                   "observed range, AP_RND, AP_SAT (docs/precision.md; `plots/profile.png` "
                   "draws each range against its type)."), "",
                  "| layer | variable | observed min | observed max | type |", "|---|---|---|---|---|"]
        for layer, vs in cal["types"].items():
            for var, t in vs.items():
                st = cal["layers"].get(layer, {}).get(var, {})
                lines.append(f"| {layer} | {var} | {_fmt(st.get('lo'), '.4g')} | "
                             f"{_fmt(st.get('hi'), '.4g')} | `{t}` |")
    fit = doc.get("fit")
    lines += ["", "## Board fit", ""]
    if fit:
        bd = fit["bound"]
        lines += [
            f"- goal: {fit['goal']} on {fit['board']} at {fit['clock_mhz']:g} MHz; budget "
            + ", ".join(f"{k.upper()} {v}" for k, v in fit["budget"].items())
            + " (80 % of the LUTs, all DSP/BRAM18/FF)",
            (f"- II {fit['total']['ii_cycles']} cycles, latency {fit['total']['latency_cycles']} "
            f"cycles: {fit['achieved_inferences_per_s'] / 1e6:.3f} M inferences/s"),
            (f"- bound {bd['bound_inferences_per_s'] / 1e6:.3f} M inferences/s = min(compute "
            f"roof {bd['compute_roof_inferences_per_s'] / 1e6:.3f} "
            f"({int(bd['dsp_multipliers'])} DSP + {int(bd['lut_multipliers'])} LUT "
            f"multipliers for {int(bd['nonzero_macs'])} nonzero MACs"
            + (f", and {int(bd['elementwise_lut_cycles'])} LUT-cycles of element-wise work "
               "per inference" if bd.get("elementwise_lut_cycles") else "")
            + "), memory roof "
            f"{_fmt(bd['memory_roof_inferences_per_s'] / 1e6, '.1f')}); "
            f"DSP-only roof {bd['dsp_only_roof_inferences_per_s'] / 1e6:.3f}"
            + (f"; stream roof {bd['stream_roof_inferences_per_s'] / 1e6:.3f} (one pixel per "
               f"clock, {int(bd['stream_beats_per_inference'])} beats per inference)"
               if bd.get("stream_beats_per_inference", 1) > 1 else "")),
            (f"- achieved: **{100 * fit['fraction_of_bound']:.1f} % of the bound**; "
            f"binding resource: {fit['binding'].upper()}"),
            f"- {fit['explanation']}",
            "",
            ("| layer | strategy | multipliers in | reuse | nonzero | multipliers | DSP | BRAM18 "
             "| LUT | FF | latency | II |"),
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in fit["layers"]:
            lines.append(
                f"| {p['name']} | {p['strategy']} | {p.get('mul', '-')} | {p['reuse']} | "
                f"{p['nnz']} | "
                f"{p['multipliers']} | {p['dsp']} | {p['bram18']} | {p['lut']} | {p['ff']} | "
                f"{p['latency_cycles']} | {p['ii_cycles']} |")
    else:
        lines.append("not fitted (convert with `--board NAME --fit throughput|latency`)")
    roof = doc.get("roofline")
    if roof and roof.get("bound_inferences_per_s"):
        lines += ["", "## Roofline", "",
                  (f"At {roof['clock_mhz']:g} MHz and II {roof['ii_cycles']} the design runs "
                  f"{roof['achieved_inferences_per_s'] / 1e6:.3f} M inferences/s, "
                  f"{100 * roof['fraction_of_bound']:.1f} % of the board bound "
                  f"{roof['bound_inferences_per_s'] / 1e6:.3f} M/s."), "",
                  "| layer | nonzero MACs | bytes moved | MACs/byte | MAC/s |",
                  "|---|---|---|---|---|"]
        for p in roof["layers"]:
            lines.append(f"| {p['name']} | {p['nonzero_macs']} | {p['bytes']:.0f} | "
                         f"{p['intensity_macs_per_byte']:.2f} | {p['macs_per_s']:.3g} |")
    plots = doc.get("plots")
    lines += ["", "## Plots", ""]
    if plots:
        lines += [f"![{os.path.splitext(p)[0]}](plots/{p})" for p in plots]
    else:
        lines.append(doc.get("plots_note", "no plots"))
    split = host_lines(g)
    if split:
        lines += ["", "## Hardware and host", ""] + [f"- {ln}" for ln in split]
    for note in s["notes"]:
        lines.append(f"\n> {note}")
    return "\n".join(lines) + "\n"


def build(g: Graph) -> dict[str, Any]:
    """Everything ``report.json`` holds (no plots)."""
    est = estimate_doc(g)
    rows = merged_rows(layer_rows(g), est)
    return {"summary": summary(g), "layers": rows, "estimate": est,
            "fit": g.meta.get("fit"), "roofline": roofline_doc(g, est),
            "calibration": g.meta.get("calibration"), "accuracy": g.meta.get("accuracy")}


def write(g: Graph, out: str, plots: bool = True) -> dict[str, Any]:
    """Write ``report.json``, ``report.md`` and ``plots/*.png`` into ``out`` (without
    ``plots``: only the numerical profile of a calibrated design, ``profile.png``)."""
    doc = build(g)
    if plots or doc.get("calibration"):
        from . import plots as plotting

        try:
            paths = plotting.write_all(doc, os.path.join(out, "plots"),
                                       None if plots else ("profile.png",))
            doc["plots"] = [os.path.basename(p) for p in paths]
        except plotting.PlotError as e:
            doc["plots_note"] = str(e)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown(g, doc["layers"], doc))
    return doc


def text(g: Graph, rep: dict[str, Any]) -> str:
    """``nnfab report``: per layer implementation, sparsity, cycles and resources (from
    :func:`generator.estimate.report`'s ``rep``), Yosys totals, and the fit summary."""
    from . import estimate

    if rep.get("error"):
        return estimate.text(rep)
    sp = {r["name"]: r for r in layer_rows(g)}
    head = (f"{'layer':<16}{'impl':<15}{'R':>4}{'nnz':>7}{'sparse':>8}{'latency':>8}{'II':>5}"
            f"{'DSP':>6}{'BRAM18':>7}{'LUT':>8}{'FF':>8}")
    lines = [head, "-" * len(head)]
    for r in rep["layers"]:
        x = sp.get(r["name"], {})
        nz = _fmt(x.get("nonzero"))
        spr = f"{100 * x['sparsity']:.0f}%" if "sparsity" in x else ""
        lines.append(f"{r['name']:<16}{r['impl']:<15}{_fmt(r.get('reuse')):>4}{nz:>7}{spr:>8}"
                     f"{r['latency_cycles']:>8}{r['ii_cycles']:>5}{r['dsp']:>6}{r['bram18']:>7}"
                     f"{r['lut']:>8}{r['ff']:>8}")
    t = rep["total"]
    lines.append("-" * len(head))
    lines.append(f"{'total (estimate)':<50}{t['latency_cycles']:>8}{t['ii_cycles']:>5}"
                 f"{t['dsp']:>6}{t['bram18']:>7}{t['lut']:>8}{t['ff']:>8}")
    s = rep.get("synth")
    if s:
        lines.append(f"{'total (Yosys ' + s['family'] + ')':<63}{s['dsp']:>6}{s['bram18']:>7}"
                     f"{s['lut']:>8}{s['ff']:>8}   CARRY {s['carry']}, LUTRAM {s['lutram']}")
    from .estimate import skip_lines

    lines += skip_lines(rep)
    lines.append("latency/II in clock cycles; latency counts the input register (1 cycle)")
    lines += estimate.timing_lines(rep)
    b = _board(g)
    if b is not None:
        lines.append(f"board {b.name}: DSP {b.dsp}, BRAM18 {b.bram18}, LUT {b.lut}, FF {b.ff}, "
                     f"{b.clock_mhz:g} MHz -> {b.clock_mhz / max(1, t['ii_cycles']):.3f} M "
                     "inferences/s")
    fit = g.meta.get("fit")
    if fit:
        from .fit import text as fit_text

        lines += ["", fit_text(fit)]
    return "\n".join(lines)
