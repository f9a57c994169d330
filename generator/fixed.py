"""Exact Xilinx ``ap_fixed`` / ``ap_ufixed`` arithmetic on integer NumPy arrays.

This module owns the numeric foundation of nnfab. A :class:`FixedType` means exactly
what ``ap_fixed<W, I, Q, O>`` (or ``ap_ufixed``) means in the Xilinx headers: a value
is held as its raw two's-complement integer ``raw`` (NumPy ``int64``) with the implicit
scale ``2**-(W - I)``. Quantisation (rounding mode ``Q``) and overflow handling (mode
``O``) follow the headers bit for bit; ``tests/test_fixed_differential.py`` checks that
against the real ``ap_fixed.h`` compiled with g++.

Widths are limited to 62 bits so that every exact product and sum of two such values
that nnfab forms is representable in ``int64`` (see :func:`mul` and :func:`add`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_WIDTH = 62

IntArray = npt.NDArray[np.int64]


class FixedError(ValueError):
    """A fixed-point type or operation that nnfab cannot represent."""


class Rounding(enum.Enum):
    """Quantisation modes of ``ap_fixed`` (the ``Q`` template argument)."""

    TRN = "AP_TRN"  # towards minus infinity (truncate the two's-complement bits)
    TRN_ZERO = "AP_TRN_ZERO"  # towards zero
    RND = "AP_RND"  # to nearest, ties towards plus infinity
    RND_ZERO = "AP_RND_ZERO"  # to nearest, ties towards zero
    RND_MIN_INF = "AP_RND_MIN_INF"  # to nearest, ties towards minus infinity
    RND_INF = "AP_RND_INF"  # to nearest, ties away from zero
    RND_CONV = "AP_RND_CONV"  # to nearest, ties to even (convergent)


class Overflow(enum.Enum):
    """Overflow modes of ``ap_fixed`` (the ``O`` template argument)."""

    WRAP = "AP_WRAP"  # keep the low W bits
    SAT = "AP_SAT"  # clamp to [min, max]
    SAT_ZERO = "AP_SAT_ZERO"  # any overflow gives zero
    SAT_SYM = "AP_SAT_SYM"  # clamp to [-max, max] (signed); as SAT when unsigned


_TYPE_RE = re.compile(
    r"^\s*(ap_fixed|ap_ufixed|fixed|ufixed)\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*"
    r"(?:,\s*(AP_)?([A-Z_]+)\s*)?(?:,\s*(AP_)?([A-Z_]+)\s*)?>\s*$"
)
_INT_RE = re.compile(r"^\s*(ap_int|ap_uint|int|uint)\s*<\s*(\d+)\s*>\s*$")


@dataclass(frozen=True)
class FixedType:
    """An ``ap_fixed<width, integer, rounding, overflow>`` type.

    Parameters
    ----------
    width : int
        Total number of bits, 1..62.
    integer : int
        Integer bits including the sign bit when signed; may be negative or exceed
        ``width`` (the binary point then lies outside the stored bits).
    signed : bool
        ``ap_fixed`` when true, ``ap_ufixed`` otherwise.
    rounding, overflow : Rounding, Overflow
        Applied when a value of another type (or a float) is cast into this type.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: Rounding = Rounding.TRN
    overflow: Overflow = Overflow.WRAP

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or not 1 <= self.width <= MAX_WIDTH:
            raise FixedError(
                f"fixed-point width {self.width} is not supported: widths 1..{MAX_WIDTH} are"
            )
        if not isinstance(self.integer, int) or abs(self.integer) > 4 * MAX_WIDTH:
            raise FixedError(f"fixed-point integer bits {self.integer} out of range")
        object.__setattr__(self, "rounding", Rounding(self.rounding))
        object.__setattr__(self, "overflow", Overflow(self.overflow))

    # -- basic properties ------------------------------------------------------------
    @property
    def frac(self) -> int:
        """Fractional bits ``width - integer`` (negative when the LSB weighs > 1)."""
        return self.width - self.integer

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        return float(2.0 ** (-self.frac))

    @property
    def min_value(self) -> float:
        return self.min_raw * self.lsb

    @property
    def max_value(self) -> float:
        return self.max_raw * self.lsb

    def with_modes(
        self, rounding: Rounding | None = None, overflow: Overflow | None = None
    ) -> FixedType:
        return FixedType(
            self.width,
            self.integer,
            self.signed,
            self.rounding if rounding is None else rounding,
            self.overflow if overflow is None else overflow,
        )

    # -- text forms ------------------------------------------------------------------
    def cpp(self) -> str:
        """The C++ type, e.g. ``ap_fixed<8,3,AP_RND_CONV,AP_SAT>``."""
        name = "ap_fixed" if self.signed else "ap_ufixed"
        if self.rounding is Rounding.TRN and self.overflow is Overflow.WRAP:
            return f"{name}<{self.width},{self.integer}>"
        return f"{name}<{self.width},{self.integer},{self.rounding.value},{self.overflow.value}>"

    def __str__(self) -> str:
        return self.cpp()

    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Parse ``ap_fixed<W,I[,Q[,O]]>``, ``ap_ufixed<...>``, ``ap_int<W>``, ``ap_uint<W>``."""
        try:
            return cls._parse(text)
        except FixedError as e:
            msg = str(e)
            if repr(text) not in msg:
                msg = f"malformed precision {text!r}: {msg}"
            raise FixedError(msg) from None

    @classmethod
    def _parse(cls, text: str) -> FixedType:
        m = _INT_RE.match(text)
        if m:
            bits = int(m.group(2))
            return cls(bits, bits, m.group(1) in ("ap_int", "int"))
        m = _TYPE_RE.match(text)
        if not m:
            raise FixedError(
                f"malformed precision {text!r}: expected ap_fixed<W,I[,Q[,O]]>, "
                "ap_ufixed<W,I[,Q[,O]]>, ap_int<W> or ap_uint<W>"
            )
        kind, w, i, _, q, _, o = m.groups()
        try:
            rounding = Rounding("AP_" + q) if q else Rounding.TRN
        except ValueError:
            raise FixedError(
                f"malformed precision {text!r}: unknown rounding mode {q!r}; supported: "
                + ", ".join(r.name for r in Rounding)
            ) from None
        try:
            overflow = Overflow("AP_" + o) if o else Overflow.WRAP
        except ValueError:
            raise FixedError(
                f"malformed precision {text!r}: unknown overflow mode {o!r}; supported: "
                + ", ".join(v.name for v in Overflow)
            ) from None
        return cls(int(w), int(i), kind in ("ap_fixed", "fixed"), rounding, overflow)

    def to_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "integer": self.integer,
            "signed": self.signed,
            "rounding": self.rounding.name,
            "overflow": self.overflow.name,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FixedType:
        return cls(
            int(d["width"]),
            int(d["integer"]),
            bool(d["signed"]),
            Rounding[d["rounding"]],
            Overflow[d["overflow"]],
        )

    # -- conversions -----------------------------------------------------------------
    def quantize(self, x: npt.ArrayLike) -> IntArray:
        """Raw integers of float values ``x`` cast into this type (as ``T y = x;``)."""
        x = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise FixedError("cannot quantize NaN or infinite values")
        with np.errstate(over="ignore", under="ignore"):
            v = np.ldexp(x, self.frac)  # the value in LSBs
        # ldexp may leave float64: above, x * 2**frac is a multiple of 2**972 (out of
        # range for W <= 62, and 0 modulo 2**W), so any such power of two gives the same
        # result; below, it may flush to zero, but for 0 < |v| < 1/2 every mode only looks
        # at the sign (floor 0 or -1, remainder below or above one half, inexact).
        v = np.where(np.isinf(v), np.copysign(2.0**1000, x), v)
        v = np.where((x != 0) & (np.abs(v) < 0.25), np.copysign(0.125, x), v)
        fl = np.floor(v)
        inexact = v != fl
        # compare the remainder v - fl with 1/2 without forming it: v - fl rounds when
        # fl == -1 (v = -(1/2 - 2**-54) would look like a tie), v - (fl + 1/2) never has
        # the wrong sign, and fl + 1/2 is exact whenever v is not an integer
        cmp = np.where(inexact, np.sign(v - (fl + 0.5)), -1.0).astype(np.int64)
        neg = v < 0
        q = _apply_rounding(self.rounding, fl, cmp, inexact, neg)
        return self._overflow_float(q)

    def cast(self, raw: npt.ArrayLike, src: FixedType) -> IntArray:
        """Raw integers of ``raw`` (in type ``src``) cast into this type."""
        a = np.asarray(raw, dtype=np.int64)
        d = src.frac - self.frac
        if d > 0:
            if d >= 63:
                fl = np.where(a < 0, np.int64(-1), np.int64(0))
                rem_zero = a == 0
                # value lies strictly inside (-1, 1) LSB: r vs half compared exactly
                cmp = np.where(a < 0, np.int64(1), np.int64(-1))  # |a| < 2^(d-1)
                cmp = np.where(a == 0, np.int64(-1), cmp)
                inexact = ~rem_zero
            else:
                fl = a >> d
                rem = a - (fl << d)
                half = np.int64(1) << (d - 1)
                cmp = np.sign(rem - half).astype(np.int64)
                inexact = rem != 0
            q = _apply_rounding(self.rounding, fl, cmp, inexact, a < 0)
            return self._overflow_int(q, 0)
        return self._overflow_int(a, -d)

    def to_float(self, raw: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Exact float64 values of raw integers (exact while ``width <= 53``)."""
        return np.ldexp(np.asarray(raw, dtype=np.int64).astype(np.float64), -self.frac)

    # -- overflow --------------------------------------------------------------------
    def _overflow_int(self, q: IntArray, shift: int) -> IntArray:
        """Apply the overflow mode to ``q << shift`` (``q`` int64, shift >= 0)."""
        lo, hi = self.min_raw, self.max_raw
        if self.overflow is Overflow.WRAP:
            if shift >= 64:
                return np.zeros_like(q)
            u = q.astype(np.uint64) << np.uint64(shift)
            return _wrap_u64(u, self.width, self.signed)
        # saturating modes: compare before shifting so nothing overflows int64
        hi_s = hi >> shift if shift < 63 else 0
        lo_s = -((-lo) >> shift) if shift < 63 else 0  # ceil(lo / 2^shift)
        over = q > hi_s
        under = q < lo_s
        if shift < 63:
            inside = np.clip(q, lo_s, hi_s) << shift
        else:
            inside = np.zeros_like(q)
        return self._saturate(inside, over, under)

    def _overflow_float(self, q: npt.NDArray[np.float64]) -> IntArray:
        """Apply the overflow mode to integer-valued doubles ``q``."""
        lo, hi = self.min_raw, self.max_raw
        if self.overflow is Overflow.WRAP:
            # fmod by 2^W is exact and |residue| < 2^W <= 2^62 converts to int64 exactly;
            # two's-complement wrapping of that residue gives the low W bits
            m = np.fmod(q, float(1 << self.width)).astype(np.int64)
            u = m.astype(np.uint64)
            return _wrap_u64(u, self.width, self.signed)
        # hi = 2**k - 1 is not a double once W > 53 (it rounds up to 2**k), but hi + 1 and
        # lo are powers of two (or 0), so compare against those exactly
        over = q >= float(hi + 1)
        under = q < float(lo)
        inside = np.clip(q, lo, hi).astype(np.int64)
        return self._saturate(inside, over, under)

    def _saturate(self, inside: IntArray, over: Any, under: Any) -> IntArray:
        lo, hi = self.min_raw, self.max_raw
        mode = self.overflow
        if mode is Overflow.SAT_ZERO:
            return np.where(over | under, np.int64(0), inside).astype(np.int64)
        if mode is Overflow.SAT_SYM and self.signed and self.width > 1:
            # ap_fixed's SAT_SYM also moves an in-range minimum to -max (symmetric range).
            # The header writes -max as the bits 100..01; with W == 1 those are the single
            # bit 1, i.e. raw -1 == min, so a 1-bit ap_fixed saturates exactly as AP_SAT.
            under = under | (inside == lo)
            lo = -hi
        out = np.where(over, np.int64(hi), np.where(under, np.int64(lo), inside))
        return np.asarray(out, dtype=np.int64)


def _wrap_u64(u: npt.NDArray[np.uint64], width: int, signed: bool) -> IntArray:
    mask = np.uint64((1 << width) - 1)
    low = (u & mask).astype(np.int64)
    if signed:
        sign = np.int64(1) << np.int64(width - 1)
        low = np.where(low >= sign, low - (sign << 1), low)
    return np.asarray(low, dtype=np.int64)


def _apply_rounding(mode: Rounding, fl: Any, cmp: Any, inexact: Any, neg: Any) -> Any:
    """Round ``fl + r`` to an integer, ``r`` in [0, 1) described by ``cmp = sign(r - 1/2)``.

    ``fl`` is the floor of the exact value, ``inexact`` says ``r != 0``, ``neg`` says
    the exact value is negative.
    """
    one = fl.dtype.type(1)
    if mode is Rounding.TRN:
        return fl
    if mode is Rounding.TRN_ZERO:
        return np.where(neg & inexact, fl + one, fl)
    up = cmp > 0
    tie = cmp == 0
    if mode is Rounding.RND:
        tie_up = tie
    elif mode is Rounding.RND_ZERO:
        tie_up = tie & neg
    elif mode is Rounding.RND_MIN_INF:
        tie_up = np.zeros_like(tie)
    elif mode is Rounding.RND_INF:
        tie_up = tie & ~neg
    elif mode is Rounding.RND_CONV:
        odd = (fl % 2) != 0
        tie_up = tie & odd
    else:  # pragma: no cover - exhaustive
        raise FixedError(f"unknown rounding mode {mode}")
    return np.where(up | tie_up, fl + one, fl)


# -- exact arithmetic with result types ----------------------------------------------


def mul_type(a: FixedType, b: FixedType) -> FixedType:
    """Type of the exact product (as ``ap_fixed`` operator*): W=Wa+Wb, I=Ia+Ib."""
    signed = a.signed or b.signed
    return FixedType(a.width + b.width, a.integer + b.integer, signed)


def mul(a: IntArray, ta: FixedType, b: IntArray, tb: FixedType) -> tuple[IntArray, FixedType]:
    """Exact product of two fixed-point arrays (broadcasting)."""
    t = mul_type(ta, tb)
    return np.asarray(a, np.int64) * np.asarray(b, np.int64), t


def add_type(a: FixedType, b: FixedType) -> FixedType:
    """Type of the exact sum (as ``ap_fixed`` operator+)."""
    signed = a.signed or b.signed
    f = max(a.frac, b.frac)
    # integer bits of each operand seen as signed when the result is signed
    ia = a.integer + (1 if signed and not a.signed else 0)
    ib = b.integer + (1 if signed and not b.signed else 0)
    i = max(ia, ib) + 1
    return FixedType(i + f, i, signed)


def align(raw: IntArray, src: FixedType, frac: int) -> IntArray:
    """Exactly shift ``raw`` of ``src`` to ``frac`` fractional bits (``frac >= src.frac``)."""
    d = frac - src.frac
    if d < 0:
        raise FixedError("align() only widens the fraction")
    return np.asarray(raw, np.int64) << np.int64(d)


def add(a: IntArray, ta: FixedType, b: IntArray, tb: FixedType) -> tuple[IntArray, FixedType]:
    """Exact sum of two fixed-point arrays (broadcasting)."""
    t = add_type(ta, tb)
    return align(a, ta, t.frac) + align(b, tb, t.frac), t


def type_for_range(lo: int, hi: int, frac: int) -> FixedType:
    """Smallest type with ``frac`` fractional bits holding raw integers ``lo..hi`` exactly."""
    signed = lo < 0
    if signed:
        w = 1
        while -(1 << (w - 1)) > lo or (1 << (w - 1)) - 1 < hi:
            w += 1
    else:
        w = max(1, int(hi).bit_length())
    if w > MAX_WIDTH:
        raise FixedError(f"value range needs {w} bits; nnfab supports at most {MAX_WIDTH}")
    return FixedType(w, w - frac, signed)
