"""The configured types a conversion reads (:class:`TypeReads`), the note on float
layers that took a model-wide type, and the check that every configured type was read;
shared by the Keras and QONNX frontends."""

from __future__ import annotations

from ...config import Config
from ...fixed import FixedType
from .common import FrontendError


class TypeReads:
    """The configured types a conversion read: ``var`` returns one and records it, so
    :func:`check_types_read` can refuse a configured type that changed nothing."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.used: set[tuple[str, str]] = set()  # (layer, precision variable) read
        self.defaulted: set[str] = set()  # user-set model-wide variables a layer took
        #: (layer, variable) -> model-wide type it took (nnfab's default or --precision)
        self.uniform: dict[tuple[str, str], FixedType] = {}
        #: layer -> variable -> the calibrated type it took (C++ spelling)
        self.calibrated: dict[str, dict[str, str]] = {}

    def var(self, layer: str, var: str) -> FixedType | None:
        self.used.add((layer, var))
        src = self.cfg.source_of(layer, var)
        if var in UNIFORM_VARS and src in ("user", "default"):
            t = self.cfg.var(layer, var)
            if t is not None:
                self.uniform[(layer, var)] = t
        if src == "calibrated":
            self.calibrated.setdefault(layer, {})[var] = self.cfg.calibrated[layer][var].cpp()
        lc = self.cfg.layers.get(layer)
        if not (lc and var in lc.precision) and var in self.cfg.precision_from:
            self.defaulted.add(var)
        return self.cfg.var(layer, var)

    def need(self, layer: str, var: str) -> FixedType:
        """``var`` for a variable the config always has a default for."""
        t = self.var(layer, var)
        assert t is not None
        return t


#: the precision variables of a float layer that calibration chooses
UNIFORM_VARS = ("input", "weight", "bias", "result")


def uniform_note(reads: TypeReads) -> str | None:
    """One line when float layers took a model-wide type (nnfab's default or
    ``--precision``) rather than types from data: which layers, which type, how to
    calibrate."""
    if not reads.uniform:
        return None
    layers = list(dict.fromkeys(n for n, _ in reads.uniform))  # in the model's order
    types = sorted({str(t) for t in reads.uniform.values()})
    given = {reads.cfg.source_of(n, v) for n, v in reads.uniform}
    whose = "set by --precision / model.precision" if given == {"user"} else "nnfab's default"
    shown = ", ".join(layers[:4]) + (f" and {len(layers) - 4} more" if len(layers) > 4 else "")
    return (f"float parts of the model ({shown}) got one uniform type {' / '.join(types)} ({whose}), not "
            "types from data; calibrate them with --calibrate X.npy (docs/precision.md)")


def check_types_read(reads: TypeReads, kinds: dict[str, str], noun: str, setters: str,
                     nobody: str) -> None:
    """A configured type the conversion never read would change nothing, silently: a
    layer's own (its ``setters`` set that type, or it has no such variable; one type string
    for a layer must be read at least once), or the model-wide ones (``nobody`` took any)."""
    cfg = reads.cfg
    for name, lc in cfg.layers.items():
        read = {v for (n, v) in reads.used if n == name}
        took = read & set(lc.precision)
        unread = [] if lc.precision_all and took else sorted(set(lc.precision) - read)
        if lc.precision and unread:
            where = (f"layers.{name}.precision" if lc.precision_all
                     else f"layers.{name}.precision.{unread[0]}")
            raise FrontendError(
                f"config {where}: {noun} {name} ({kinds[name]}) does not take "
                f"{'a type' if lc.precision_all else 'this type'} from the config (its "
                f"{setters} set its types, or it has no such variable); supported here: "
                + (", ".join(sorted(read)) or "none") + "; remove it")
    if cfg.precision_from and not reads.defaulted & set(cfg.precision_from):
        where = " and ".join(sorted(set(cfg.precision_from.values())))
        raise FrontendError(f"{where}: {nobody} takes a type from it (its {setters} set every "
                            "type); remove it")
