"""Shared fixtures: the test zoo (models saved once per session) and converted projects."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import zoo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config: pytest.Config) -> None:
    """One build cache for the run (every xdist worker inherits it): Verilator and g++
    builds of the same sources are shared by the tests (keyed by their content), and the
    run starts cold. A ``$NNFAB_CACHE_DIR`` the caller set is used as it is."""
    if hasattr(config, "workerinput") or os.environ.get("NNFAB_CACHE_DIR"):
        return
    import tempfile

    d = tempfile.mkdtemp(prefix="nnfab-test-cache-")
    os.environ["NNFAB_CACHE_DIR"] = d
    config.stash[_CACHE_KEY] = d


def pytest_unconfigure(config: pytest.Config) -> None:
    d = config.stash.get(_CACHE_KEY, None)
    if d:
        shutil.rmtree(d, ignore_errors=True)
        os.environ.pop("NNFAB_CACHE_DIR", None)


_CACHE_KEY = pytest.StashKey[str]()


def require(tool: str) -> str:
    """The path of ``tool`` on PATH. A required tool (g++, tclsh, make, perl) that is
    missing fails the test with its name -- never a skip: only ``vendor`` tests skip."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is required and not on PATH: install it", pytrace=False)
    return path


@dataclass
class ZooModel:
    entry: zoo.ZooEntry
    path: str  # .h5 file
    model: Any
    x: np.ndarray  # 1,000 seeded inputs on the input grid
    y_source: np.ndarray  # the model's own predict on x (float32 -> float64)

    @property
    def name(self) -> str:
        return self.entry.name


def assert_outputs_vary(y: Any, ftype: Any = None, what: str = "outputs") -> None:
    """``y`` (N rows of outputs) is not the same for every input row, and (given the
    output type ``ftype``) not every value sits at the type's limits: a comparison of
    views on such outputs would pass with almost any design. Every zoo-model test runs
    it (on the model's own outputs when its inputs are made, and in the shared checks
    before they compare views)."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    assert len(y) >= 2, f"{what}: {len(y)} row cannot show that the outputs vary"
    assert (y != y[0]).any(), f"{what} are constant over {len(y)} input rows"
    if ftype is not None:
        ends = (ftype.to_float(ftype.min_raw), ftype.to_float(ftype.max_raw))
        assert not np.isin(y, ends).all(), f"{what} all saturate at the limits of {ftype}"


#: the fewest zoo inputs a test compares views on (test_rtl_cnn's FRAMES is 60)
VARY_ROWS = 16


def _make(entry: zoo.ZooEntry, d: str) -> ZooModel:
    from generator import config, reference
    from generator.frontends.keras import from_model
    from generator.passes import run_pipeline
    from generator.verify import source_predict

    model = zoo.build(entry)
    path = os.path.join(d, f"{entry.name}.h5")
    model.save(path)
    x = zoo.inputs(entry, tuple(int(s) for s in model.input_shape[1:]))
    g = from_model(model, config.load(None))
    run_pipeline(g)
    assert_outputs_vary(reference.predict(g, x[:VARY_ROWS]), g.outputs[0].ftype,
                        f"{entry.name}'s outputs")
    return ZooModel(entry, path, model, x, source_predict(model, x))


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("zoo"))


_CACHE: dict[str, ZooModel] = {}


def zoo_model(name: str, d: str) -> ZooModel:
    if name not in _CACHE:
        entry = next(e for e in zoo.ZOO + zoo.FLOAT_ZOO + zoo.CNN_ZOO if e.name == name)
        _CACHE[name] = _make(entry, d)
    return _CACHE[name]


@pytest.fixture(scope="session", params=[e.name for e in zoo.ZOO])
def zoo_q(request: pytest.FixtureRequest, zoo_dir: str) -> ZooModel:
    """Each fully quantized zoo model (built once per session)."""
    return zoo_model(request.param, zoo_dir)


@pytest.fixture(scope="session", params=[e.name for e in zoo.CNN_ZOO])
def zoo_cnn(request: pytest.FixtureRequest, zoo_dir: str) -> ZooModel:
    """Each convolutional or recurrent zoo model (built once per session)."""
    return zoo_model(request.param, zoo_dir)


@pytest.fixture(scope="session")
def float_model(zoo_dir: str) -> ZooModel:
    return zoo_model("float_bn", zoo_dir)


@pytest.fixture(scope="session")
def example_model() -> str:
    return os.path.join(ROOT, "examples", "digits_mlp", "digits_mlp.h5")


def estimate_near_yosys(g: Any, out: str, band: float = 0.3) -> None:
    """``g``'s Verilog synthesised by Yosys ``synth_xilinx`` (xc7): DSP and BRAM18 equal
    the estimate's, LUT and FF within ``band`` of it."""
    from generator import estimate
    from generator.backends import rtl

    conf = rtl.write(g, out, None)
    got = estimate.synth(os.path.join(out, "rtl"), conf["top"], conf["sources"], "xc7")
    est = estimate.estimate(g)["total"]
    print(g.name, {k: (est[k], got[k]) for k in ("lut", "ff", "dsp", "bram18")})
    assert got["dsp"] == est["dsp"] and got["bram18"] == est["bram18"]
    for k, y in (("lut", "lut_sites"), ("ff", "ff")):  # LUTs of logic and of LUT RAM
        assert 1 - band <= est[k] / got[y] <= 1 + band, (k, est[k], got[y])
