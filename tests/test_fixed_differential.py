"""generator.fixed against the real Xilinx ``ap_fixed.h``, compiled with g++.

``tests/cpp/fixed_diff.cpp`` is a small driver that casts through the headers. The
template arguments of ``ap_fixed`` are compile-time, so this module draws a seeded,
deterministic set of type combinations, writes them as an include list into a
temporary directory, compiles the driver once per session (split over the CPUs) and
caches the binary by the hash of everything that went into it. Random values (uniform,
plus ones placed on rounding ties and overflow boundaries) are then fed through the
binary and through :class:`generator.fixed.FixedType`, and every raw result must agree.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from generator.fixed import FixedError, FixedType, Overflow, Rounding
from generator.toolchain import ap_types_include_dir

DRIVER = Path(__file__).parent / "cpp" / "fixed_diff.cpp"
CXX = "g++"
# -O0: the driver runs a few 10^4 casts; most of its build is template instantiation, and
# the optimiser adds about a third to it
CXXFLAGS = ("-O0", "-std=c++14", "-DNDEBUG", "-w")
SEED = 0x5EED_F1CED

ROUNDINGS = list(Rounding)  # index order = kQ in fixed_diff.cpp
OVERFLOWS = list(Overflow)  # index order = kO in fixed_diff.cpp

N_CAST_PAIRS = 110  # (src, dst) type pairs, each with MODES_PER_PAIR (Q, O) modes
MODES_PER_PAIR = len(ROUNDINGS)  # every rounding once, overflow modes rotating
VALUES_PER_CAST = 20
N_DOUBLE_TYPES = 55  # destination types for double -> fixed
MODES_PER_DOUBLE_TYPE = 4  # every overflow once, with a random rounding
VALUES_PER_DOUBLE = 30
MIN_CASES = 20_000

# Always included, with every (Q, O) mode: 1-bit types, negative integer bits, a right
# shift beyond the source width (qb taken from the sign), a left shift past the
# destination's MSB, and wide types whose shifts reach fixed.py's >= 63-bit branches.
CORNER_CASTS = [
    (FixedType(10, 3), FixedType(1, 1)),
    (FixedType(6, 2), FixedType(1, -2, False)),
    (FixedType(5, 5), FixedType(4, -3)),
    (FixedType(3, -2, False), FixedType(6, 9)),
    (FixedType(62, -10), FixedType(4, 8)),
    (FixedType(8, 40), FixedType(62, -10, False)),
]
CORNER_DOUBLES = [FixedType(1, 0), FixedType(2, -3, False), FixedType(62, 20)]
VALUES_PER_CORNER = 32


# -- deterministic case generation -------------------------------------------------------


@dataclass(frozen=True)
class Cases:
    cast_combos: list[tuple[FixedType, FixedType]]  # (src, dst with Q/O)
    cast_raws: list[list[int]]
    double_types: list[FixedType]
    double_values: list[list[float]]

    @property
    def count(self) -> int:
        return sum(map(len, self.cast_raws)) + sum(map(len, self.double_values))


def _rand_type(rng: np.random.Generator, like: FixedType | None = None) -> FixedType:
    """Width 1..32 (small ones favoured), integer bits -4..width+4, either signedness."""
    w = int(rng.integers(1, 4)) if rng.random() < 0.2 else int(rng.integers(1, 33))
    i = int(rng.integers(-4, w + 5))
    if like is not None and rng.random() < 0.3:  # same or nearby LSB as the source
        j = w - (like.frac + int(rng.integers(-2, 3)))
        if -4 <= j <= w + 4:
            i = j
    return FixedType(w, i, bool(rng.random() < 0.5))


def _wrap(v: int, t: FixedType) -> int:
    """Any integer reduced to a raw value of ``t`` (low ``width`` bits, sign-extended)."""
    v &= (1 << t.width) - 1
    if t.signed and v >> (t.width - 1):
        v -= 1 << t.width
    return v


def _cast_raws(rng: np.random.Generator, src: FixedType, dst: FixedType, n: int) -> list[int]:
    d = src.frac - dst.frac  # src LSBs per dst LSB is 2**d
    special = {src.min_raw, src.min_raw + 1, -1, 0, 1, src.max_raw - 1, src.max_raw}
    for t in (dst.min_raw, dst.min_raw - 1, dst.max_raw, dst.max_raw + 1, -dst.max_raw, -1, 0, 1):
        base = t << d if d >= 0 else t >> -d
        offsets = [-1, 0, 1]
        if d > 0:  # halfway between two dst values, and next to it
            offsets += [(1 << (d - 1)) + k for k in (-1, 0, 1)]
        special.update(base + k for k in offsets)
    pool = sorted({_wrap(v, src) for v in special})
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(pool[int(rng.integers(len(pool)))])
        else:
            out.append(int(rng.integers(src.min_raw, src.max_raw, endpoint=True)))
    return out


def _doubles(rng: np.random.Generator, dst: FixedType, n: int) -> list[float]:
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.55:  # k * 2**e with a random mantissa, magnitude around dst's range
            bits = int(rng.integers(1, 54))
            k = int(rng.integers(1 << (bits - 1), 1 << bits))
            mag = int(rng.integers(-dst.frac - 3, dst.integer + 4))
            x = math.ldexp(k, mag - bits)
        elif r < 0.9:  # on or next to a rounding tie / overflow boundary of dst
            t = int(rng.choice([dst.min_raw, dst.max_raw, -dst.max_raw, 0, 1, -1]))
            t += int(rng.integers(-2, 3))
            off = float(rng.choice([0.0, 0.5, 0.5, 1.0]))
            off += float(rng.choice([0.0, 1.0, -1.0])) * math.ldexp(1.0, -int(rng.integers(2, 50)))
            x = math.ldexp(t + off, -dst.frac)
        else:
            if rng.random() < 0.5:  # float64 extremes: ldexp over/underflows
                x = float(rng.choice([0.0, 5e-324, 1e-300, 2.0**-60, 1e300, 1.7e308]))
            else:  # remainders whose float64 arithmetic rounds, and huge LSB counts
                lsbs = [0.5 - 2.0**-54, 0.5 + 2.0**-53, 0.25 - 2.0**-55, 1 - 2.0**-53]
                lsbs += [2.0**51 + 0.5, 2.0**52 - 0.5, 2.0**53 - 1, 2.0**63 + 2.0**11]
                x = math.ldexp(float(rng.choice(lsbs)), -dst.frac)
        out.append(-x if rng.random() < 0.5 else x)
    return out


@functools.cache
def _cases() -> Cases:
    rng = np.random.default_rng(SEED)
    cast_combos, cast_raws = [], []
    for _ in range(N_CAST_PAIRS):
        src = _rand_type(rng)
        dst = _rand_type(rng, like=src)
        o0 = int(rng.integers(len(OVERFLOWS)))
        for k, qi in enumerate(rng.permutation(len(ROUNDINGS))[:MODES_PER_PAIR]):
            t = dst.with_modes(ROUNDINGS[qi], OVERFLOWS[(o0 + k) % len(OVERFLOWS)])
            cast_combos.append((src, t))
            cast_raws.append(_cast_raws(rng, src, t, VALUES_PER_CAST))
    all_modes = [(q, o) for q in ROUNDINGS for o in OVERFLOWS]
    for src, dst in CORNER_CASTS:
        for q, o in all_modes:
            cast_combos.append((src, dst.with_modes(q, o)))
            cast_raws.append(_cast_raws(rng, src, cast_combos[-1][1], VALUES_PER_CORNER))
    double_types, double_values = [], []
    for dst in CORNER_DOUBLES:
        for q, o in all_modes:
            double_types.append(dst.with_modes(q, o))
            double_values.append(_doubles(rng, double_types[-1], VALUES_PER_CORNER))
    for _ in range(N_DOUBLE_TYPES):
        dst = _rand_type(rng)
        for oi in range(MODES_PER_DOUBLE_TYPE):
            t = dst.with_modes(ROUNDINGS[int(rng.integers(len(ROUNDINGS)))], OVERFLOWS[oi])
            double_types.append(t)
            double_values.append(_doubles(rng, t, VALUES_PER_DOUBLE))
    return Cases(cast_combos, cast_raws, double_types, double_values)


def _modes(t: FixedType) -> str:
    return f"{ROUNDINGS.index(t.rounding)},{OVERFLOWS.index(t.overflow)}"


def _tdef(t: FixedType) -> str:
    return f"{t.width},{t.integer},{int(t.signed)}"


def _tkey(t: FixedType) -> str:
    q, o = ROUNDINGS.index(t.rounding), OVERFLOWS.index(t.overflow)
    return f"{t.width} {t.integer} {int(t.signed)} {q} {o}"


# -- the compiled oracle -----------------------------------------------------------------


def _instantiation_lists(cases: Cases, parts: int) -> list[str]:
    """The include list, split into ``parts`` chunks of similar compile cost."""
    items = [
        (1.0, f"FIXED_DIFF_CAST({_tdef(s)},{_tdef(d)},{_modes(d)})")
        for s, d in dict.fromkeys(cases.cast_combos)
    ]
    items += [  # the double constructor costs about 1.7x a fixed->fixed cast to compile
        (1.7, f"FIXED_DIFF_DOUBLE({_tdef(d)},{_modes(d)})")
        for d in dict.fromkeys(cases.double_types)
    ]
    chunks: list[list[str]] = [[] for _ in range(parts)]
    load = [0.0] * parts
    for cost, line in items:
        k = load.index(min(load))
        chunks[k].append(line)
        load[k] += cost
    return ["\n".join(c) + "\n" for c in chunks]


def _cache_dir(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("nnfab_fixed_diff"))
    return Path(tempfile.gettempdir()) / "nnfab-cache" / "fixed_diff"


def _compile(cxx: str, inc: Path, lists: list[str], out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="fixed_diff_") as tmp:
        jobs = []
        for k, text in enumerate(lists):
            src = Path(tmp) / f"cases_{k}.inc"
            src.write_text(text)
            cmd = [cxx, *CXXFLAGS, f"-I{inc}", f'-DFIXED_DIFF_CASES="{src}"']
            if k == 0:
                cmd.append("-DFIXED_DIFF_MAIN")
            jobs.append([*cmd, "-c", str(DRIVER), "-o", str(Path(tmp) / f"part_{k}.o")])
        with ThreadPoolExecutor(len(jobs)) as pool:
            runs = pool.map(lambda c: subprocess.run(c, check=False, capture_output=True), jobs)
            results = list(runs)
        for r in results:
            if r.returncode:
                err = r.stderr.decode(errors="replace")[-4000:]
                raise RuntimeError(f"{' '.join(r.args)} failed:\n{err}")
        tmp_bin = Path(tmp) / "fixed_diff"
        objs = [str(Path(tmp) / f"part_{k}.o") for k in range(len(lists))]
        subprocess.run([cxx, *objs, "-o", str(tmp_bin)], check=True, capture_output=True)
        staged = out.with_name(f"{out.name}.{os.getpid()}.tmp")
        shutil.copy2(tmp_bin, staged)
        os.replace(staged, out)


@pytest.fixture(scope="session")
def fixed_diff_binary(request: pytest.FixtureRequest) -> Path:
    from conftest import require

    cxx = require(CXX)  # compiles the ap_fixed.h oracle
    inc = ap_types_include_dir()
    parts = max(2, min(os.cpu_count() or 1, 8))
    lists = _instantiation_lists(_cases(), parts)
    h = hashlib.sha256()
    version = subprocess.run([cxx, "--version"], check=True, capture_output=True).stdout
    for piece in (" ".join(CXXFLAGS), str(inc.resolve()), *lists):
        h.update(piece.encode() + b"\0")
    h.update(version)
    h.update(DRIVER.read_bytes())
    for hdr in sorted([*inc.glob("ap_*.h"), *inc.glob("etc/*.h")]):
        h.update(hdr.name.encode() + b"\0" + hdr.read_bytes())
    cache = _cache_dir(request.config)
    cache.mkdir(parents=True, exist_ok=True)
    binary = cache / f"fixed_diff-{h.hexdigest()[:20]}"
    # pytest-xdist workers each run this fixture: the first compiles, the others wait
    with open(cache / "compile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.is_file():
            t0 = time.perf_counter()
            _compile(cxx, inc, lists, binary)
            for stale in cache.glob("fixed_diff-*"):  # earlier case sets or headers
                if stale != binary:
                    stale.unlink(missing_ok=True)
            print(f"\ncompiled {binary.name} ({parts} parts) in {time.perf_counter() - t0:.1f} s")
    return binary


def _run(binary: Path, lines: list[str]) -> np.ndarray:
    text = "\n".join(lines) + "\n"
    proc = subprocess.run(
        [str(binary)], input=text, check=False, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"oracle failed ({proc.returncode}): {proc.stderr[-2000:]}"
    out = np.array(proc.stdout.split(), dtype=np.int64)
    assert out.shape == (len(lines),), "oracle answered a different number of cases"
    return out


def _assert_same(ref: np.ndarray, got: np.ndarray, describe: list[str], what: str) -> None:
    bad = np.flatnonzero(ref != got)
    msg = ""
    if bad.size:
        shown = "\n".join(
            f"  {describe[i]}: ap_fixed.h {ref[i]}, fixed.py {got[i]}" for i in bad[:12]
        )
        msg = f"{bad.size} of {ref.size} {what} disagree with ap_fixed.h, e.g.\n{shown}"
        print(msg)
    np.testing.assert_array_equal(got, ref, err_msg=msg)


# -- the differential tests --------------------------------------------------------------


def test_case_set_covers_everything() -> None:
    cases = _cases()
    assert cases.count >= MIN_CASES
    modes = {(d.rounding, d.overflow) for _, d in cases.cast_combos}
    assert len(modes) == len(ROUNDINGS) * len(OVERFLOWS)
    dbl_modes = {(d.rounding, d.overflow) for d in cases.double_types}
    assert {o for _, o in dbl_modes} == set(Overflow)
    assert {q for q, _ in dbl_modes} == set(Rounding)
    types = [t for pair in cases.cast_combos for t in pair] + cases.double_types
    assert {t.width for t in types} >= set(range(1, 33))
    assert min(t.integer for t in types) <= -4 and any(t.integer > t.width + 3 for t in types)
    assert {t.signed for t in types} == {True, False}


@pytest.mark.slow
def test_cast_matches_ap_fixed(fixed_diff_binary: Path) -> None:
    cases = _cases()
    lines, describe, got = [], [], []
    for (src, dst), raws in zip(cases.cast_combos, cases.cast_raws, strict=True):
        head = f"F {src.width} {src.integer} {int(src.signed)} {_tkey(dst)}"
        lines += [f"{head} {r}" for r in raws]
        describe += [f"{dst.cpp()} <- {src.cpp()} raw {r}" for r in raws]
        got.append(dst.cast(np.array(raws, dtype=np.int64), src))
    ref = _run(fixed_diff_binary, lines)
    _assert_same(ref, np.concatenate(got), describe, "fixed->fixed casts")


@pytest.mark.slow
def test_quantize_matches_ap_fixed(fixed_diff_binary: Path) -> None:
    cases = _cases()
    lines, describe, got = [], [], []
    for dst, xs in zip(cases.double_types, cases.double_values, strict=True):
        lines += [f"D {_tkey(dst)} {x.hex()}" for x in xs]
        describe += [f"{dst.cpp()} <- double {x!r} ({x.hex()})" for x in xs]
        got.append(dst.quantize(np.array(xs, dtype=np.float64)))
    ref = _run(fixed_diff_binary, lines)
    _assert_same(ref, np.concatenate(got), describe, "double->fixed conversions")


# -- plain unit tests (no C++) -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ap_fixed<8>",
        "ap_fixed<8,3,AP_RND_HALF>",
        "ap_fixed<8,3,AP_RND,AP_CLAMP>",
        "ap_fixed<0,0>",
        "ap_fixed<99,3>",
        "float",
        "ap_fixed<8,3",
    ],
)
def test_parse_errors_name_the_bad_string(text: str) -> None:
    with pytest.raises(FixedError) as info:
        FixedType.parse(text)
    msg = str(info.value)
    assert "\n" not in msg
    assert repr(text) in msg


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ap_fixed<8,3>", FixedType(8, 3)),
        (
            "ap_ufixed<6,-2,AP_RND_CONV,AP_SAT_SYM>",
            FixedType(6, -2, False, Rounding.RND_CONV, Overflow.SAT_SYM),
        ),
        ("fixed<16, 6, RND, SAT>", FixedType(16, 6, True, Rounding.RND, Overflow.SAT)),
        ("ap_int<5>", FixedType(5, 5, True)),
        ("ap_uint<1>", FixedType(1, 1, False)),
    ],
)
def test_parse_and_cpp_round_trip(text: str, expected: FixedType) -> None:
    t = FixedType.parse(text)
    assert t == expected
    assert FixedType.parse(t.cpp()) == t


def test_json_round_trip() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        w = int(rng.integers(1, 63))
        t = FixedType(
            w,
            int(rng.integers(-8, w + 9)),
            bool(rng.random() < 0.5),
            ROUNDINGS[int(rng.integers(len(ROUNDINGS)))],
            OVERFLOWS[int(rng.integers(len(OVERFLOWS)))],
        )
        back = FixedType.from_json(json.loads(json.dumps(t.to_json())))
        assert back == t
        assert back.cpp() == t.cpp()
