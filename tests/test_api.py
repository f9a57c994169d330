"""The Python API (``import generator as nnfab``) does what the CLI does, on real views."""

from __future__ import annotations

import numpy as np
import pytest

import generator as nnfab
from generator.config import ConfigError
from generator.fit import FitError
from generator.frontends.keras import FrontendError
from generator.ir import Dense

pytestmark = pytest.mark.slow


def test_api_convert_and_every_view(zoo_dir, tmp_path) -> None:
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    out = tmp_path / "o"
    p = nnfab.convert(zm.path, out, config={"layers": {"fc2": {"strategy": "resource",
                                                                "reuse": 4}}})
    fc2 = next(n for n in p.graph.of(Dense) if n["source"] == "fc2")
    assert (fc2["strategy"], fc2["reuse"]) == ("resource", 4)
    x = zm.x[:200]
    y = p.predict(x)
    np.testing.assert_array_equal(y, zm.y_source[:200])
    np.testing.assert_array_equal(p.csim(x), y)
    y_r, cycles = p.rtlsim(x)
    np.testing.assert_array_equal(y_r, y)
    assert cycles["ii_cycles"] == p.report()["total"]["ii_cycles"] == 4
    assert (out / "report.md").is_file()
    res = nnfab.load(out).verify(samples=50, views="source,csim")
    assert res.ok and res.rows == 50
    assert [v.name for v in res.views] == ["reference", "source", "csim"]
    assert str(res).endswith("verify: PASS (all required views bit-exact)")


def test_api_errors_are_the_cli_errors(zoo_dir, tmp_path) -> None:
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    out = tmp_path / "o"
    with pytest.raises(FrontendError, match=r"^config layers\.fc9: model mlp8 has no layer "):
        nnfab.convert(zm.path, out, config={"layers": {"fc9": {"reuse": 2}}})
    with pytest.raises(ConfigError, match=r"^layers\.fc1\.reuse: reuse factor must be a "):
        nnfab.convert(zm.path, out, config={"layers": {"fc1": {"reuse": 0}}})
    with pytest.raises(FitError, match=r"^--fit needs a target board"):
        nnfab.convert(zm.path, out, fit="throughput")
    with pytest.raises(FrontendError, match=r"^model dict is neither a model file nor a "):
        nnfab.convert({"not": "a model"}, out)
    assert not out.exists()


def test_api_converts_an_in_memory_model(zoo_dir, tmp_path) -> None:
    """An in-memory QKeras model converts to the same graph as its file, and the project
    keeps it (out/source_model.h5) for the source view."""
    from conftest import zoo_model

    from generator import ir

    zm = zoo_model("cnn_basic", zoo_dir)
    p = nnfab.convert(zm.model, tmp_path / "o", io="stream")
    (d, a), (d_f, a_f) = ir.to_json(p.graph), ir.to_json(nnfab.convert(
        zm.path, tmp_path / "f", io="stream").graph)
    skip = ("source_model", "source_sha256")
    assert {k: v for k, v in d["meta"].items() if k not in skip} == \
        {k: v for k, v in d_f["meta"].items() if k not in skip}
    assert {k: v for k, v in d.items() if k != "meta"} == \
        {k: v for k, v in d_f.items() if k != "meta"}
    for k in a_f:
        np.testing.assert_array_equal(a[k], a_f[k])
    assert p.graph.meta["source_model"] == str(tmp_path / "o" / "source_model.h5")
    res = p.verify(x=zm.x[:100], views="source")
    assert res.ok and res.views[1].mismatched_rows == 0
