"""User configuration of a conversion: precision defaults, per-layer overrides, options.

YAML form (every key optional; unknown keys are refused)::

    model:
      precision: ap_fixed<16,6>          # default for every variable, or a mapping:
      # precision: {weight: ap_fixed<8,3>, bias: ..., result: ..., accum: ..., input: ...}
      strategy: latency                  # latency | resource (Dense layers; a Conv
                                         # takes only its own layers: entry)
      reuse: 1                           # default reuse factor of Dense layers
      io: parallel                       # parallel | stream
      skip_zeros: false                  # folded Dense after a ReLU: skip zero inputs (RTL)
    layers:
      fc1:
        precision: {weight: ap_fixed<6,1>, result: ap_fixed<12,4,AP_RND,AP_SAT>}
        reuse: 4
        strategy: resource
        skip_zeros: true
        multipliers: lut                 # folded Dense: dsp (default) | lut (shift-adds)
      conv1:                             # a Conv with reuse R: R cycles per output pixel
        reuse: 4                         # (io stream) or per frame (io parallel: strategy
        strategy: latency                # latency shares window kernels among R pixels,
                                         # resource folds the whole-frame matrix)

A float model's types can instead come from data (``generator.calibrate``; the rule is
in ``docs/precision.md``): a top-level ``calibration:`` key holds the calibration inputs
(a ``.npy`` path, relative to the config file) or a mapping::

    calibration:
      data: calib_x.npy                  # float inputs (N, *input_shape)
      bits: 16                           # bit budget of each calibrated type
      validate: val_x.npy                # inputs the accuracy is measured on (default: data)

Configured types win over calibrated ones; ``--calibrate`` / ``--bits`` / ``--validate``
win over the file's.

Variables: ``weight``, ``bias`` (used when the source layer has no quantizer), ``result``
(the cast after a float layer), ``accum`` (a cast of the exact sum; default: none,
the exact accumulator of ``infer_precision``), ``input`` (the model input type when the
model does not start with a quantizer), ``table`` (sigmoid/tanh/softmax output).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import CalibrationError
from .fixed import FixedError, FixedType

VARIABLES = ("weight", "bias", "result", "accum", "input", "table")
DEFAULT_PRECISION = "ap_fixed<16,6>"
STRATEGIES = ("latency", "resource")
MULTIPLIERS = ("dsp", "lut")
IO_TYPES = ("parallel", "stream")
#: narrowest / widest bit budget of calibrated types
MIN_BITS, MAX_BITS = 4, 32


class ConfigError(ValueError):
    """A configuration key or value nnfab does not support."""


def check_bits(bits: Any, where: str = "--bits") -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not MIN_BITS <= bits <= MAX_BITS:
        raise CalibrationError(f"{where}: {bits!r} is not supported; use a width of "
                               f"{MIN_BITS} to {MAX_BITS} bits")
    return bits


@dataclass
class LayerConfig:
    precision: dict[str, FixedType] = field(default_factory=dict)
    reuse: int | None = None
    strategy: str | None = None
    skip_zeros: bool | None = None
    multipliers: str | None = None
    #: the precision was one type string (every variable of the layer), not a mapping
    precision_all: bool = False


@dataclass
class Config:
    precision: dict[str, FixedType] = field(default_factory=dict)
    strategy: str = "latency"
    reuse: int = 1
    io: str = "parallel"
    skip_zeros: bool = False
    layers: dict[str, LayerConfig] = field(default_factory=dict)
    #: where a parallelism option (strategy, reuse, multipliers, skip_zeros) was set
    #: (``--reuse``, ``model.strategy``, ``layers.fc1.reuse``, ...): ``--fit`` chooses
    #: these itself and refuses to override one
    parallelism_set: list[str] = field(default_factory=list)
    #: the model-wide precision variables the user set, and where (``--precision`` or
    #: ``model.precision``); the rest of ``precision`` are nnfab's defaults
    precision_from: dict[str, str] = field(default_factory=dict)
    #: where ``io`` was set (``--io``, ``model.io``); None: nnfab chooses per model
    io_from: str | None = None
    #: calibration inputs (a ``.npy`` path or an array), the bit budget, validation inputs
    calibration: Any = None
    bits: int | None = None
    validation: Any = None
    #: types chosen from the calibration data: layer -> variable -> type (below the
    #: configured types, above nnfab's defaults; see :meth:`var`)
    calibrated: dict[str, dict[str, FixedType]] = field(default_factory=dict)

    def var(self, layer: str, name: str) -> FixedType | None:
        """The type of ``name`` for ``layer``: the layer's configured one, else the
        model-wide one the user set, else the calibrated one, else nnfab's default."""
        lc = self.layers.get(layer)
        if lc and name in lc.precision:
            return lc.precision[name]
        if name not in self.precision_from:
            t = self.calibrated.get(layer, {}).get(name)
            if t is not None:
                return t
        return self.precision.get(name)

    def source_of(self, layer: str, name: str) -> str:
        """Where :meth:`var` takes ``name`` of ``layer`` from: ``layer``, ``user``
        (model-wide, set by the user), ``calibrated`` or ``default``."""
        lc = self.layers.get(layer)
        if lc and name in lc.precision:
            return "layer"
        if name in self.precision_from:
            return "user"
        if self.calibrated.get(layer, {}).get(name) is not None:
            return "calibrated"
        return "default"

    def reuse_for(self, layer: str) -> int:
        lc = self.layers.get(layer)
        return lc.reuse if lc and lc.reuse is not None else self.reuse

    def layer_reuse(self, layer: str) -> int | None:
        """The reuse factor set for ``layer`` itself (not the model default)."""
        lc = self.layers.get(layer)
        return lc.reuse if lc else None

    def skip_zeros_for(self, layer: str, eligible: bool) -> bool:
        """A layer's own ``skip_zeros``; else the model default where it applies (a
        folded Dense after a ReLU: ``eligible``)."""
        lc = self.layers.get(layer)
        if lc and lc.skip_zeros is not None:
            return lc.skip_zeros
        return self.skip_zeros and eligible

    def multipliers_for(self, layer: str) -> str:
        """A folded Dense layer's multipliers: ``dsp`` unless the layer sets ``lut``."""
        lc = self.layers.get(layer)
        return lc.multipliers if lc and lc.multipliers else "dsp"

    def layer_strategy(self, layer: str) -> str | None:
        """The strategy set for ``layer`` itself (not the model default)."""
        lc = self.layers.get(layer)
        return lc.strategy if lc else None

    def strategy_for(self, layer: str) -> str:
        lc = self.layers.get(layer)
        return lc.strategy if lc and lc.strategy is not None else self.strategy


def _parse_type(where: str, text: Any) -> FixedType:
    if not isinstance(text, str):
        raise ConfigError(f"{where}: precision must be a string like ap_fixed<16,6>")
    try:
        return FixedType.parse(text)
    except FixedError as e:
        raise ConfigError(f"{where}: {e}") from None


def _parse_precision(where: str, value: Any) -> dict[str, FixedType]:
    if isinstance(value, str):
        t = _parse_type(where, value)
        return {v: t for v in VARIABLES if v != "accum"}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k not in VARIABLES:
                raise ConfigError(
                    f"{where}: unknown precision variable {k!r}; supported: {', '.join(VARIABLES)}"
                )
            out[k] = _parse_type(f"{where}.{k}", v)
        return out
    raise ConfigError(f"{where}: precision must be a type string or a mapping of variables")


def _choice(where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not supported; use one of {', '.join(allowed)}")
    return str(value)


def _reuse(where: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}: reuse factor must be a positive integer, got {value!r}")
    return value


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: must be true or false, got {value!r}")
    return value


def from_dict(d: dict[str, Any]) -> Config:
    if not isinstance(d, dict):
        raise ConfigError("config must be a mapping with keys 'model' and/or 'layers'")
    unknown = set(d) - {"model", "layers", "calibration"}
    if unknown:
        raise ConfigError(f"config: unknown key {min(unknown)!r}; supported: model, layers, "
                          "calibration")
    cfg = Config(precision=_parse_precision("model.precision", DEFAULT_PRECISION))
    m = d.get("model") or {}
    for k, v in m.items():
        if k == "precision":
            given = _parse_precision("model.precision", v)
            cfg.precision.update(given)
            cfg.precision_from.update({var: "model.precision" for var in given})
        elif k == "strategy":
            cfg.strategy = _choice("model.strategy", v, STRATEGIES)
            cfg.parallelism_set.append("model.strategy")
        elif k == "reuse":
            cfg.reuse = _reuse("model.reuse", v)
            cfg.parallelism_set.append("model.reuse")
        elif k == "io":
            cfg.io = _choice("model.io", v, IO_TYPES)
            cfg.io_from = "model.io"
        elif k == "skip_zeros":
            cfg.skip_zeros = _bool("model.skip_zeros", v)
            cfg.parallelism_set.append("model.skip_zeros")
        else:
            raise ConfigError(
                f"config model: unknown key {k!r}; supported: precision, strategy, reuse, io, "
                "skip_zeros"
            )
    for name, lv in (d.get("layers") or {}).items():
        lc = LayerConfig()
        for k, v in (lv or {}).items():
            where = f"layers.{name}.{k}"
            if k in ("reuse", "strategy", "skip_zeros", "multipliers"):
                cfg.parallelism_set.append(where)
            if k == "precision":
                lc.precision = _parse_precision(where, v)
                lc.precision_all = isinstance(v, str)
            elif k == "reuse":
                lc.reuse = _reuse(where, v)
            elif k == "strategy":
                lc.strategy = _choice(where, v, STRATEGIES)
            elif k == "skip_zeros":
                lc.skip_zeros = _bool(where, v)
            elif k == "multipliers":
                lc.multipliers = _choice(where, v, MULTIPLIERS)
            else:
                raise ConfigError(
                    f"config layers.{name}: unknown key {k!r}; supported: precision, reuse, "
                    "strategy, skip_zeros, multipliers"
                )
        cfg.layers[name] = lc
    if "calibration" in d:
        _calibration(cfg, d["calibration"])
    return cfg


def _calibration(cfg: Config, c: Any) -> None:
    """The ``calibration:`` key: a path, or ``{data, bits, validate}``."""
    if isinstance(c, str):
        c = {"data": c}
    if not isinstance(c, dict) or "data" not in c:
        raise ConfigError("config calibration: must be a .npy path or a mapping with 'data' "
                          "(and optional 'bits', 'validate')")
    for k, v in c.items():
        if k not in ("data", "bits", "validate"):
            raise ConfigError(f"config calibration: unknown key {k!r}; supported: data, bits, "
                              "validate")
        if k in ("data", "validate") and not isinstance(v, str):
            raise ConfigError(f"config calibration.{k}: must be a .npy path, got {v!r}")
    cfg.calibration = c["data"]
    cfg.validation = c.get("validate")
    if "bits" in c:
        try:
            cfg.bits = check_bits(c["bits"], "config calibration.bits")
        except CalibrationError as e:
            raise ConfigError(str(e)) from None


def load(path: str | None, precision: str | None = None, **options: Any) -> Config:
    """Config from a YAML file (optional), then ``--precision`` and CLI options on top."""
    d: dict[str, Any] = {}
    if path:
        try:
            with open(path) as f:
                d = yaml.safe_load(f) or {}
        except OSError as e:
            raise ConfigError(f"config {path}: cannot read ({e.strerror})") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config {path}: not valid YAML ({str(e).splitlines()[0]})") from None
    cfg = from_dict(d)
    if path:  # calibration files are named relative to the config file
        base = os.path.dirname(os.path.abspath(path))
        for k in ("calibration", "validation"):
            v = getattr(cfg, k)
            if isinstance(v, str) and not os.path.isabs(v):
                setattr(cfg, k, os.path.join(base, v))
    return apply_options(cfg, precision, **options)


def apply_options(cfg: Config, precision: str | None = None, **options: Any) -> Config:
    """``--precision`` and the CLI options (``strategy``, ``reuse``, ``io``) on top of a
    config (they win over the file's model-wide values)."""
    if precision is not None:
        given = _parse_precision("--precision", precision)
        cfg.precision.update(given)
        cfg.precision_from.update({var: "--precision" for var in given})
    if options.get("strategy") is not None:
        cfg.strategy = _choice("--strategy", options["strategy"], STRATEGIES)
        cfg.parallelism_set.append("--strategy")
    if options.get("reuse") is not None:
        cfg.reuse = _reuse("--reuse", options["reuse"])
        cfg.parallelism_set.append("--reuse")
    if options.get("io") is not None:
        cfg.io = _choice("--io", options["io"], IO_TYPES)
        cfg.io_from = "--io"
    if options.get("calibrate") is not None:
        cfg.calibration = options["calibrate"]
    if options.get("validate") is not None:
        cfg.validation = options["validate"]
    if options.get("bits") is not None:
        if cfg.calibration is None:
            raise ConfigError("--bits is the bit budget of calibrated types: add --calibrate "
                              "X.npy (or calibration: in the config)")
        try:
            cfg.bits = check_bits(options["bits"])
        except CalibrationError as e:
            raise ConfigError(str(e)) from None
    return cfg
