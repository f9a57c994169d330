"""The Python API: what the ``nnfab`` CLI does, as functions and a project object.

::

    import generator as nnfab

    p = nnfab.convert("model.h5", "out", board="pynq-z2", fit="throughput")  # or a model
    y = p.predict(x)              # the NumPy reference (the golden model)
    y_c = p.csim(x)               # HLS C-simulation (g++ with the ap_fixed headers)
    y_r, cycles = p.rtlsim(x)     # Verilator under cocotb; cycles["ii_cycles"], ...
    res = p.verify(samples=1000)  # every view against the reference; res.ok, print(res)
    rep = p.report()              # estimate (+ Yosys with synth=True); writes report.md

    p = nnfab.load("out")         # an existing project

``convert`` takes the same options as ``nnfab convert`` (``config`` is a YAML path or the
same mapping as a dict) and raises the same one-line errors, as exceptions derived from
``ValueError`` (:class:`generator.frontends.keras.FrontendError`,
:class:`generator.config.ConfigError`, :class:`generator.fit.FitError`, ...). Inputs
``x`` are float arrays of shape ``(N, *input_shape)``, quantized to the model's input type
as the CLI does; outputs are float64 arrays holding the exact fixed-point values.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .ir import Graph


@dataclass
class Verification:
    """The result of :meth:`Project.verify`: every view compared with the reference."""

    ok: bool
    rows: int
    views: list[Any]  # generator.verify.ViewResult

    def __str__(self) -> str:
        from .verify import table

        return table(self.views) + "\n\nverify: " + (
            "PASS (all required views bit-exact)" if self.ok else "FAIL")


class Project:
    """A converted project directory ``out`` and its graph."""

    def __init__(self, out: str, graph: Graph | None = None) -> None:
        from . import project

        self.out = os.path.abspath(out)
        self.graph = graph if graph is not None else project.load(self.out)

    def __repr__(self) -> str:
        return f"Project({self.out!r}, {len(self.graph.nodes)} nodes)"

    @property
    def fit(self) -> dict[str, Any] | None:
        """The board-fit plan (``--fit``), or None."""
        return self.graph.meta.get("fit")

    @property
    def accuracy(self) -> dict[str, Any] | None:
        """The agreement with the float model (``--calibrate`` / ``--validate``; see
        :mod:`generator.accuracy`), or None."""
        return self.graph.meta.get("accuracy")

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The NumPy reference on ``x``."""
        from . import reference

        return reference.predict(self.graph, np.asarray(x, dtype=np.float64))

    def csim(self, x: npt.ArrayLike, form: str = "csim") -> npt.NDArray[np.float64]:
        """The HLS C-simulation (built with g++ on first use) on ``x``; ``form="synth"``
        compiles the unrolled source synthesis reads (``nnfab csim --form synth``)."""
        from .backends.hls import csim

        return csim.run(self.graph, self.out, np.asarray(x, dtype=np.float64), form=form)

    def rtlsim(self, x: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        """The Verilog under Verilator/cocotb on ``x``: outputs and the measured cycles
        (``latency_cycles``, ``ii_cycles``, ...)."""
        from .backends.rtl import sim

        return sim.run(self.graph, self.out, np.asarray(x, dtype=np.float64))

    def verify(self, x: npt.ArrayLike | None = None, samples: int = 1000,
               views: str | None = None) -> Verification:
        """Every view (or the comma-separated ``views``) against the reference on ``x``, or
        on ``samples`` seeded inputs spanning the input type (as ``nnfab verify``)."""
        from . import verify

        xs = verify.samples(self.graph, samples) if x is None else np.asarray(x, np.float64)
        results = verify.run_all(self.graph, self.out, xs, views=views)
        return Verification(all(r.ok for r in results), len(xs), results)

    def report(self, synth: bool = False) -> dict[str, Any]:
        """The per-layer estimate (and Yosys ``synth_xilinx`` with ``synth``); writes
        ``report.md``, ``report.json`` and the plots, as ``nnfab report`` does."""
        from . import estimate, report

        rep = estimate.report(self.graph, self.out, synth=synth)
        report.write(self.graph, self.out, plots=True)
        return rep


#: where :func:`convert` keeps an in-memory model it was given, inside the project
SOURCE_MODEL = "source_model.h5"


def convert(model: Any, out: str | os.PathLike[str], *,
            config: str | os.PathLike[str] | dict[str, Any] | None = None,
            precision: str | None = None, reuse: int | None = None,
            strategy: str | None = None, io: str | None = None, board: str | None = None,
            fit: str | None = None, calibrate: npt.ArrayLike | str | None = None,
            bits: int | None = None, validate: npt.ArrayLike | str | None = None,
            clock: float | None = None) -> Project:
    """Convert ``model`` -- a model file (``.h5``, ``.keras``, a SavedModel directory or a
    QONNX ``.onnx``) or an in-memory tf-keras / QKeras model, which is saved as
    ``out/source_model.h5`` for the source view -- into the project directory ``out``, as
    ``nnfab convert`` does. ``calibrate`` (inputs, or a ``.npy`` path) chooses a float
    model's types from data within ``bits`` (default 16); the accuracy against the float
    model is measured on ``validate`` (default: the calibration inputs) and kept in
    ``Project.accuracy``. ``clock``: ``--clock``, the target clock in MHz."""
    from . import config as config_mod
    from . import project

    opts: dict[str, Any] = {"strategy": strategy, "reuse": reuse, "io": io,
                            "calibrate": calibrate, "bits": bits, "validate": validate}
    if isinstance(config, dict):
        cfg = config_mod.apply_options(config_mod.from_dict(config), precision, **opts)
    else:
        cfg = config_mod.load(os.fspath(config) if config is not None else None, precision,
                              **opts)
    if isinstance(model, (str, os.PathLike)):
        g, _ = project.build_graph(os.fspath(model), cfg, board, fit=fit, clock=clock)
        project.write_project(g, os.fspath(out), cfg)
        return Project(os.fspath(out))
    # an in-memory model: saved as OUT/source_model.h5, the file the source view reads
    with tempfile.TemporaryDirectory(prefix="nnfab-model-") as d:
        src = os.path.join(d, SOURCE_MODEL)
        _save_model(model, src)
        g, _ = project.build_graph(src, cfg, board, fit=fit, clock=clock)
        g.meta["source_model"] = os.path.join(os.path.abspath(os.fspath(out)), SOURCE_MODEL)
        project.write_project(g, os.fspath(out), cfg, extra_files={SOURCE_MODEL: src})
    return Project(os.fspath(out))


def _save_model(model: Any, path: str) -> None:
    from .frontends.keras import FrontendError, import_tf

    if not hasattr(model, "save") or not hasattr(model, "layers"):
        raise FrontendError(f"model {type(model).__name__} is neither a model file nor a "
                            "tf-keras / QKeras model")
    import warnings

    import_tf()
    try:
        with warnings.catch_warnings():  # .h5 is the format the source view reads
            warnings.filterwarnings("ignore", "You are saving your model as an HDF5 file",
                                    UserWarning)
            model.save(path)
    except Exception as e:  # noqa: BLE001 - keras raises many kinds
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise FrontendError(f"model {getattr(model, 'name', '?')} cannot be saved as a "
                            "tf-keras .h5 file (a Keras 3 model? set TF_USE_LEGACY_KERAS=1): "
                            f"{msg}") from None


def load(out: str | os.PathLike[str]) -> Project:
    """An existing project directory written by :func:`convert` or ``nnfab convert``."""
    return Project(os.fspath(out))
