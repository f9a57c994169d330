"""PNG plots of a design's report (``OUT/plots/*.png``), drawn with matplotlib (Agg).

Every function takes the plain data :mod:`generator.report` computes (``report.json``'s
records), never the graph, so the plots show exactly what the report states:

* :func:`roofline` -- arithmetic intensity (nonzero MACs per byte of weights and
  activations a layer moves) against MAC/s at the design's II, with the board's compute
  roofs (DSP + LUT multipliers, DSP only) and memory roofs (on-chip block RAM + LUT
  ROM, off-chip DDR/HBM) as lines;
* :func:`resources` -- per-layer DSP, BRAM18, LUT and FF bars, and latency / II cycles;
* :func:`sparsity` -- per weighted (Dense / Conv) layer, the fraction of pruned weights
  (nonzero / total written on each bar).

A design of more than :data:`MAX_BARS` nodes (an unrolled recurrent layer has a dozen per
step; more than :data:`MAX_SPARSITY_BARS` weighted nodes for the sparsity plot) is drawn
per source-model layer: the nodes of one layer summed (their cycles: the
slowest node's), the streamed FIFOs as one bar.

matplotlib is imported lazily; :data:`MISSING` explains how to install it.
"""

from __future__ import annotations

import os
from typing import Any

MISSING = "plots skipped: matplotlib is not installed (pip install matplotlib)"
DPI = 100
#: most bars a plot draws one per node; beyond, one per source-model layer (the
#: sparsity plot widens with its bars: fewer)
MAX_BARS = 30
MAX_SPARSITY_BARS = 10


class PlotError(ValueError):
    """Plots that cannot be drawn (one line: why)."""


def _plt() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(MISSING) from None
    return plt


def _si(v: float, unit: str) -> str:
    for k, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= k:
            return f"{v / k:.3g} {p}{unit}"
    return f"{v:.3g} {unit}"


def roofline(doc: dict[str, Any], path: str) -> str:
    """Roofline of the design's layers (``doc`` = report.json)."""
    plt = _plt()
    import numpy as np

    pts = doc["roofline"]["layers"]
    roofs = doc["roofline"]
    fig, ax = plt.subplots(figsize=(7.5, 6.0))
    xs = [p["intensity_macs_per_byte"] for p in pts]
    ys = [p["macs_per_s"] for p in pts]
    lo = min(xs + [0.1]) / 3
    hi = max(xs + [10.0]) * 6
    xr = np.geomspace(lo, hi, 200)
    top = max(ys + [1.0])
    if roofs.get("compute_macs_per_s"):
        c = roofs["compute_macs_per_s"]
        ax.plot(xr, np.full_like(xr, c), color="tab:red", lw=2,
                label=f"compute roof, DSP + LUT multipliers ({_si(c, 'MAC/s')})")
        top = max(top, c)
    if roofs.get("dsp_macs_per_s"):
        c = roofs["dsp_macs_per_s"]
        ax.plot(xr, np.full_like(xr, c), color="tab:red", lw=1.2, ls="--",
                label=f"compute roof, DSP only ({_si(c, 'MAC/s')})")
    for key, color, name in (("onchip_read_bytes_per_s", "tab:blue",
                              "on-chip BRAM + LUT ROM"),
                             ("offchip_bytes_per_s", "tab:purple", "off-chip memory")):
        bw = roofs.get(key)
        if bw:
            y = bw * xr
            if roofs.get("compute_macs_per_s"):  # the slope ends where it meets the roof
                y = np.where(y <= roofs["compute_macs_per_s"], y, np.nan)
            ax.plot(xr, y, color=color, lw=1.5, ls="-." if "off" in name else "-",
                    label=f"{name} bandwidth roof ({_si(bw, 'B/s')})")
    ax.scatter(xs, ys, s=40, color="black", zorder=5, label="layer at the design's II")
    # labels to the right of the points, at heights at least a factor GAP apart, with a
    # leader line to their point, so close points never get overlapping labels
    gap = 1.9
    order = sorted(range(len(pts)), key=lambda i: ys[i])
    ty: list[float] = []
    for i in order:
        y = ys[i] if not ty else max(ys[i], ty[-1] * gap)
        ty.append(y)
    shift = (ty[-1] / ys[order[-1]]) ** 0.5 if ty else 1.0  # centre the column on the points
    for i, y in zip(order, ty, strict=True):
        ax.annotate(pts[i]["name"], (xs[i], ys[i]), xytext=(xs[i] * 2.2, y / shift),
                    fontsize=9, va="center",
                    arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.8})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(min(ys + [top]) / 10, top * 4)
    ax.set_xlabel("arithmetic intensity (nonzero MACs per byte of weights + activations)")
    ax.set_ylabel("throughput (nonzero MAC/s)")
    board = roofs.get("board") or "no board (roofs not drawn)"
    ax.set_title(f"{doc['summary']['model']}: roofline on {board}, "
                 f"{roofs['clock_mhz']:g} MHz, II {roofs['ii_cycles']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _grouped(rows: list[dict[str, Any]], key: Any, sums: tuple[str, ...],
             maxes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One row per ``key(row)``: its ``nodes`` count, ``sums`` summed, ``maxes`` the
    largest, ``impls`` its Dense / Conv implementations counted."""
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        k = key(r)
        gr = groups.setdefault(k, {"name": k, "nodes": 0, "impls": {},
                                   **dict.fromkeys(sums + maxes, 0)})
        gr["nodes"] += 1
        for f in sums:
            gr[f] += r[f]
        for f in maxes:
            gr[f] = max(gr[f], r[f])
        if r.get("impl", "").startswith(("dense", "conv")):
            impl = r["impl"] + (f", R={r['reuse']}" if "reuse" in r else "")
            gr["impls"][impl] = gr["impls"].get(impl, 0) + 1
    return list(groups.values())


def _by_source(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The estimate's rows, or (beyond :data:`MAX_BARS`) one row per source layer: its
    nodes' resources summed, its slowest node's latency and II, its implementations."""
    rows = doc["estimate"]["layers"]
    if len(rows) <= MAX_BARS:
        return rows, False
    src = {r["name"]: r.get("source") or r["name"] for r in doc["layers"]}
    return _grouped(rows, lambda r: "FIFOs" if r.get("op") == "FIFO"
                    else src.get(r["name"], r["name"]),
                    ("dsp", "bram18", "lut", "ff"), ("latency_cycles", "ii_cycles")), True


def resources(doc: dict[str, Any], path: str) -> str:
    """Per-layer DSP / BRAM18 / LUT / FF bars and latency / II cycles."""
    plt = _plt()
    import numpy as np

    rows, grouped = _by_source(doc)
    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
    panels = (("dsp", "DSP48", "tab:red"), ("bram18", "BRAM18", "tab:blue"),
              ("lut", "LUT", "tab:green"), ("ff", "FF", "tab:olive"))
    total = doc["estimate"]["total"]
    budget = (doc.get("fit") or {}).get("budget", {})
    for ax, (key, label, color) in zip(axes.flat, panels, strict=False):
        vals = [r[key] for r in rows]
        ax.bar(x, vals, color=color)
        ax.set_ylim(0, max(vals + [1]) * 1.15)
        if not any(vals):
            ax.text(0.5, 0.5, f"no {label}", ha="center", va="center", transform=ax.transAxes,
                    color="0.4")
        t = f"{label} per layer (total {total[key]}"
        t += f" of budget {budget[key]})" if key in budget else ")"
        ax.set_title(t, fontsize=10)
        ax.set_ylabel(f"{label} (count)")
    ax = axes.flat[4]
    w = 0.4
    ax.bar(x - w / 2, [r["latency_cycles"] for r in rows], w, label="latency", color="tab:gray")
    ax.bar(x + w / 2, [r["ii_cycles"] for r in rows], w, label="II", color="tab:orange")
    ax.set_title(f"cycles per layer{' (slowest node)' if grouped else ''} (design latency "
                 f"{total['latency_cycles']}, II {total['ii_cycles']})", fontsize=10)
    ax.set_ylabel("clock cycles")
    ax.legend(fontsize=8)
    for ax in axes.flat[:5]:
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    # last panel: the implementation of each layer as a table
    ax = axes.flat[5]
    ax.axis("off")
    if grouped:
        lines = [f"{r['name']} ({r['nodes']} node{'s' * (r['nodes'] != 1)}): " + "; ".join(
                     f"{n} x {impl}" for impl, n in r["impls"].items())
                 for r in rows if r["impls"]]
    else:
        lines = [f"{r['name']}: {r['impl']}" + (f", R={r['reuse']}, M={r['multipliers']}"
                                                if "reuse" in r else "")
                 for r in rows if r["impl"].startswith(("dense", "conv"))]
    ax.text(0, 1, "Dense / Conv layers\n" + "\n".join(lines), va="top", fontsize=9,
            family="monospace", transform=ax.transAxes, wrap=True)
    per = "source layer (its nodes summed)" if grouped else "layer"
    fig.suptitle(f"{doc['summary']['model']}: estimated resources and cycles per {per}")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def sparsity(doc: dict[str, Any], path: str) -> str:
    """Fraction of pruned weights per weighted (Dense / Conv) layer."""
    plt = _plt()

    rows = [r for r in doc["layers"] if "sparsity" in r]
    if len(rows) > MAX_SPARSITY_BARS:  # per source layer: its nodes' weights and nonzeros
        ops = {r.get("source") or r["name"]: r.get("op") for r in rows}
        rows = [{**gr, "op": ops[gr["name"]],
                 "sparsity": 1 - gr["nonzero"] / max(gr["weights"], 1)}
                for gr in _grouped(rows, lambda r: r.get("source") or r["name"],
                                   ("weights", "nonzero"))]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(rows) + 2), 4.2))
    names = [r["name"] for r in rows]
    vals = [100 * r["sparsity"] for r in rows]
    bars = ax.bar(range(len(rows)), vals, color="tab:cyan")
    for b, r in zip(bars, rows, strict=True):
        ax.annotate(f"{r['nonzero']}/{r['weights']} nonzero", (b.get_x() + b.get_width() / 2,
                    b.get_height()), textcoords="offset points", xytext=(0, 3), ha="center",
                    fontsize=8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylim(0, 110)
    ax.set_ylabel("pruned weights (%)")
    present = {r.get("op") for r in rows}
    ax.set_xlabel(" / ".join(o for o in ("Dense", "Conv") if o in present) + " layer")
    s = doc["summary"]
    ax.set_title(f"{s['model']}: sparsity per layer (overall {100 * s['sparsity']:.1f} % pruned)")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def profile_rows(cal: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The boxes of :func:`profile`: ``(weights and biases, activations)``, each
    ``{"label", "stats", "type"}`` in the model's order."""
    from .fixed import FixedType

    wrows: list[dict[str, Any]] = []
    arows: list[dict[str, Any]] = []
    for layer, vs in cal["types"].items():
        for var, t in vs.items():
            st = cal["layers"].get(layer, {}).get(var)
            if st is None:
                continue
            row = {"label": f"{layer} {var}", "stats": st, "type": FixedType.parse(t)}
            (wrows if var in ("weight", "bias") else arows).append(row)
    return wrows, arows


def profile(doc: dict[str, Any], path: str) -> str:
    """Numerical profile of a calibrated design: per layer, the distribution of the float
    weights and of the activations the calibration inputs gave (boxes of ``|x|`` on a
    log2 axis: 1st percentile, quartiles, maximum), over the band of the chosen type
    (from its resolution, one LSB, to its largest value): a box past the band's right
    edge saturates, values left of it round to zero or one LSB."""
    plt = _plt()
    from matplotlib.patches import Patch

    cal = doc["calibration"]
    titles = ("weights and biases", "activations (input, sums before the activation)")
    groups = [g for g in zip(titles, profile_rows(cal)) if g[1]]
    n = max(len(rows) for _, rows in groups)
    height = 1.7 + 0.42 * n
    fig, axes = plt.subplots(1, len(groups), figsize=(6.5 * len(groups), height),
                             squeeze=False)
    for ax, (title, rows) in zip(axes[0], groups):
        rows = rows[::-1]  # the first layer at the top
        stats: list[dict[str, Any] | None] = []
        for i, r in enumerate(rows):
            q = r["stats"]["abs_quantiles"]
            t = r["type"]
            lo_t, hi_t = t.lsb, max(t.max_value, t.lsb)
            ax.barh(i, hi_t - lo_t, left=lo_t, height=0.8, color="tab:green", alpha=0.18,
                    edgecolor="tab:green")
            ax.plot([hi_t], [i], marker="|", color="tab:red", markersize=16, mew=2)
            ax.plot([lo_t], [i], marker="|", color="tab:blue", markersize=16, mew=2)
            ax.annotate(str(t).replace(",AP_RND,AP_SAT", ""), (hi_t, i), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7, color="0.3")
            if q[-1] > 0:
                stats.append({"label": r["label"], "whislo": q[0], "q1": q[1], "med": q[2],
                              "q3": q[3], "whishi": q[4], "fliers": []})
            else:
                stats.append(None)
        pos = [i for i, s in enumerate(stats) if s is not None]
        if pos:
            ax.bxp([stats[i] for i in pos], positions=pos, orientation="horizontal", widths=0.45,
                   showfliers=False, patch_artist=True,
                   boxprops={"facecolor": "tab:orange", "alpha": 0.9},
                   medianprops={"color": "black"})
        ax.set_xscale("log", base=2)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([r["label"] for r in rows], fontsize=8)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        lo = min(r["type"].lsb for r in rows)
        hi = max(max(r["type"].max_value, r["stats"]["abs_quantiles"][-1]) for r in rows)
        ax.set_xlim(lo / 4, hi * 64)
        ax.set_xlabel("|value| (log2 scale)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
    fig.legend(handles=[
        Patch(color="tab:orange", label="|x|: 1st percentile, quartiles, maximum"),
        Patch(color="tab:green", alpha=0.3, label="the type: 1 LSB .. its largest value"),
        Patch(color="tab:red", label="largest value (saturates above)"),
        Patch(color="tab:blue", label="resolution (1 LSB)")], loc="lower center", ncol=4,
        fontsize=8, frameon=False)
    fig.suptitle(f"{doc['summary']['model']}: numerical profile, types calibrated on "
                 f"{cal['samples']} inputs ({cal['bits']}-bit budget)")
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


PLOTS = (("roofline.png", roofline), ("resources.png", resources), ("sparsity.png", sparsity),
         ("profile.png", profile))


def write_all(doc: dict[str, Any], out_dir: str,
              only: tuple[str, ...] | None = None) -> list[str]:
    """Write every plot of ``doc`` (or the ``only`` ones) into ``out_dir``; returns the
    file paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, fn in PLOTS:
        if only is not None and name not in only:
            continue
        if name == "roofline.png" and not doc.get("roofline"):
            continue
        if name == "resources.png" and not doc.get("estimate", {}).get("layers"):
            continue
        if name == "profile.png" and not (doc.get("calibration") or {}).get("types"):
            continue
        paths.append(fn(doc, os.path.join(out_dir, name)))
    return paths
