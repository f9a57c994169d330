"""The Python API (``import generator as nnfab``) does what the CLI does, on real views."""

from __future__ import annotations

import numpy as np
import pytest

import generator as nnfab
from generator.config import ConfigError
from generator.frontends.keras import FrontendError
from generator.ir import Dense
from generator.passes.fit import FitError

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
    with pytest.raises(TypeError, match=r"save an in-memory model first"):
        nnfab.convert(zm.model, out)
    assert not out.exists()
