// nnfab HLS kernel library: element-wise layer kernels and raw-bit helpers.
//
// Every kernel computes exactly what generator/reference.py computes for the same op:
// casts between ap types are plain assignments (ap_fixed applies the destination's
// rounding and overflow modes), products and sums of ap_fixed values are exact, and
// table indices are computed on the raw two's-complement bits.
//
// Constant data (weights, tables) is stored as raw integers in plain C arrays so that
// huge ROMs compile in seconds; nnfab::from_raw reinterprets those bits in the wanted
// ap type (free in hardware). Dense layers and the per-window sums of Conv layers are
// generated per layer by nnfab (the zero-skipping and folding are decided in Python),
// not implemented here. cnn.h holds the window/pooling/padding kernels, stream.h the
// io_stream dataflow architecture.
#ifndef NNFAB_H_
#define NNFAB_H_

#include <ap_fixed.h>
#include <ap_int.h>
#include <hls_stream.h>

namespace nnfab {

// ---- raw bits --------------------------------------------------------------------

// Set the raw two's-complement bits of t to the low W bits of r.
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
inline void set_raw(ap_fixed_base<W, I, S, Q, O, N>& t, ap_slong r) {
#pragma HLS INLINE
    t.V = ap_int_base<W, S>(r).V;
}

// The value of T whose raw two's-complement bits are the low T::width bits of r.
template <class T>
inline T from_raw(ap_slong r) {
#pragma HLS INLINE
    T t;
    set_raw(t, r);
    return t;
}

// The raw bits of an ap_fixed / ap_ufixed value as an ap_int / ap_uint of its width.
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
inline ap_int_base<W, S> raw(const ap_fixed_base<W, I, S, Q, O, N>& x) {
#pragma HLS INLINE
    ap_int_base<W, S> r;
    r.V = x.V;
    return r;
}

// The raw bits as a 64-bit integer (widths are at most 62 bits in nnfab).
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
inline ap_slong raw64(const ap_fixed_base<W, I, S, Q, O, N>& x) {
#pragma HLS INLINE
    return raw(x).to_int64();
}

// acc += x * w with w given by its raw bits in type Tw: one exact product and an exact
// sum (the accumulator type of a Dense layer holds every partial sum). Used once per
// nonzero weight by the generated Dense layers.
template <class Tw, class Tacc, class Tx>
inline void mac(Tacc& acc, const Tx& x, ap_slong w_raw) {
#pragma HLS INLINE
    acc += x * from_raw<Tw>(w_raw);
}

// acc += x * w for a power-of-two weight w = +-2^(WK + e) (or 0) given by its code
// {nonzero, negative, e (EB bits)}: x times the constant 2^WK (a wire shift) in the exact
// product type of Tx and the unsigned type of Tw's width and fraction, shifted left by e,
// added or subtracted. |w| fits that unsigned type (not always Tw: w = -1 in
// ap_fixed<1,1>, the most negative weight), so the shifted product fits the product
// type: exact, and no multiplier (folded quantized_po2 / binary / ternary layers).
template <class Tw, int WK, int EB, class Tacc, class Tx>
inline void mac_shift(Tacc& acc, const Tx& x, int code) {
#pragma HLS INLINE
    auto p = x * from_raw<ap_ufixed<Tw::width, Tw::iwidth> >(ap_slong(1) << WK);
    if (EB > 0) p <<= (code & ((1 << EB) - 1));
    if ((code >> (EB + 1)) & 1) {
        if ((code >> EB) & 1) acc -= p;
        else acc += p;
    }
}

// The larger / smaller of a and b in T, which holds both exactly (a Merge max / min).
template <class T, class A, class B>
inline T max_of(const A& a, const B& b) {
#pragma HLS INLINE
    return a > b ? T(a) : T(b);
}
template <class T, class A, class B>
inline T min_of(const A& a, const B& b) {
#pragma HLS INLINE
    return a < b ? T(a) : T(b);
}

// clip(v, 0, size - 1): the index rule shared by every view (reference.table_index).
inline ap_slong clip_index(ap_slong v, ap_slong size) {
#pragma HLS INLINE
    return v < 0 ? ap_slong(0) : (v > size - 1 ? size - 1 : v);
}

// ---- element-wise kernels ----------------------------------------------------------

// Quantize: cast with the output type's rounding and overflow modes.
template <class Tin, class Tout, int N>
void cast(const Tin x[N], Tout y[N]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        y[i] = x[i];
    }
}

// Relu: max(x, 0) cast to the output type.
template <class Tin, class Tout, int N>
void relu(const Tin x[N], Tout y[N]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        if (raw64(x[i]) < 0)
            y[i] = 0;
        else
            y[i] = x[i];
    }
}

// Clip: min(max(x, LO), HI) (raw LO <= HI on Tin's grid) cast to the output type.
template <class Tin, class Tout, int N, ap_slong LO, ap_slong HI>
void clip(const Tin x[N], Tout y[N]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        ap_slong r = raw64(x[i]);
        y[i] = r < LO ? from_raw<Tin>(LO) : (r > HI ? from_raw<Tin>(HI) : x[i]);
    }
}

// Leaky ReLU with slope 2^-k: y = x where x >= 0; where x < 0, y = Tneg(x) * 2^-k. Tneg
// rounds and saturates the negative half on its own grid; the IR holds Tout's fraction
// bits = Tneg's + k, so the shift by k is Tneg's raw value read as a Tout.
template <class Tin, class Tout, class Tneg, int N>
void leaky_relu(const Tin x[N], Tout y[N]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        if (raw64(x[i]) < 0) {
            Tneg z = x[i];
            y[i] = from_raw<Tout>(raw64(z));
        } else {
            y[i] = x[i];
        }
    }
}

// Binarize: -1 where x < 0, else +1.
template <class Tin, class Tout, int N>
void binarize(const Tin x[N], Tout y[N]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        y[i] = raw64(x[i]) < 0 ? -1 : 1;
    }
}

// Ternarize: +1 where raw x >= THR, -1 where raw x <= -THR, else 0.
template <class Tin, class Tout, int N, ap_slong THR>
void ternarize(const Tin x[N], Tout y[N]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        ap_slong r = raw64(x[i]);
        y[i] = r >= THR ? 1 : (r <= -THR ? -1 : 0);
    }
}

// Table: y = table[clip((x_raw >> SHIFT) - OFFSET, 0, SIZE - 1)] (raw in Tout).
template <class Tin, class Tout, int N, int SHIFT, ap_slong OFFSET, int SIZE, class R>
void table(const Tin x[N], Tout y[N], const R tab[SIZE]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        ap_slong k = clip_index((raw64(x[i]) >> SHIFT) - OFFSET, SIZE);
        y[i] = from_raw<Tout>(tab[k]);
    }
}

// Embedding: row k = clip((x_raw >> SHIFT) - OFFSET, 0, SIZE - 1) of the SIZE x D table
// per input element, y[i * D + j] = tab[k * D + j] (raw in Tout).
template <class Tin, class Tout, int N, int D, int SHIFT, ap_slong OFFSET, int SIZE, class R>
void embedding(const Tin x[N], Tout y[N * D], const R tab[SIZE * D]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        ap_slong k = clip_index((raw64(x[i]) >> SHIFT) - OFFSET, SIZE);
        for (int j = 0; j < D; j++) {
#pragma HLS UNROLL
            y[i * D + j] = from_raw<Tout>(tab[k * D + j]);
        }
    }
}

// Threshold (ir.Threshold): y = lev[number of thresholds x reaches]. thr holds C rows of T
// raw values on x's grid (ascending), lev C rows of T + 1 raw values of Tout; element i
// uses row i % C (C = 1: one function for all). The count is a sum of T comparisons, so
// the result is exact for any step function.
template <class Tin, class Tout, int N, int T, int C, class RT, class RL>
void threshold(const Tin x[N], Tout y[N], const RT thr[C * (T > 0 ? T : 1)],
               const RL lev[C * (T + 1)]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        const ap_slong v = raw64(x[i]);
        const int ch = i % C;
        int c = 0;
        for (int t = 0; t < T; t++) {
#pragma HLS UNROLL
            c += (v >= ap_slong(thr[ch * T + t])) ? 1 : 0;
        }
        y[i] = from_raw<Tout>(lev[ch * (T + 1) + c]);
    }
}

// Softmax over N values (ir.Softmax): exp table on max - x, exact sum, inverse table.
template <class Tin, class Tout, class Texp, class Tinv, class Tsum, int N, int ESHIFT,
          int ESIZE, int ISHIFT, int ISIZE, class RE, class RI>
void softmax(const Tin x[N], Tout y[N], const RE exp_tab[ESIZE], const RI inv_tab[ISIZE]) {
#pragma HLS INLINE
    ap_slong m = raw64(x[0]);
    for (int i = 1; i < N; i++) {
#pragma HLS UNROLL
        ap_slong r = raw64(x[i]);
        m = r > m ? r : m;
    }
    Texp e[N];
#pragma HLS ARRAY_PARTITION variable=e complete
    Tsum s = 0;
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        // rounded up: only the largest inputs read entry 0
        ap_slong k = clip_index((m - raw64(x[i]) + ((1LL << ESHIFT) - 1)) >> ESHIFT, ESIZE);
        e[i] = from_raw<Texp>(exp_tab[k]);
        s += e[i];
    }
    Tinv inv = from_raw<Tinv>(inv_tab[clip_index(raw64(s) >> ISHIFT, ISIZE)]);
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        y[i] = e[i] * inv;
    }
}

// ScaleShift: y = cast(x * scale[c] + shift[c]) with c the last-axis index (C channels).
template <class Tin, class Tout, class Ts, class Tt, int N, int C, class RS, class RT>
void scale_shift(const Tin x[N], Tout y[N], const RS scale[C], const RT shift[C]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        y[i] = x[i] * from_raw<Ts>(scale[i % C]) + from_raw<Tt>(shift[i % C]);
    }
}

// Reshape: row-major, no data change.
template <class Tin, class Tout, int N>
void copy(const Tin x[N], Tout y[N]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        y[i] = x[i];
    }
}

}  // namespace nnfab

// convolution kernels (arrays and window kernels) and the io_stream dataflow kernels
#include "cnn.h"
#include "stream.h"

#endif  // NNFAB_H_
