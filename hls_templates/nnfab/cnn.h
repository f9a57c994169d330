// nnfab HLS kernel library: convolution-network kernels on arrays (io_parallel) and
// the per-window kernels shared with the streaming versions (stream.h).
//
// Spatial tensors are channels last, row-major: element (r, c, ch) of an H x W x C
// tensor is x[(r * W + c) * C + ch]. Rank-1 tensors (L, C) use H = 1. Semantics are those
// of generator/reference.py: pads are zeros for convolutions, ignored positions for max
// pooling; average pooling rounds the exact mean into the output type (div_cast).
//
// A window kernel is a struct with
//     static void compute(const Tin x[KH * KW * C], Tout y[F], int r0, int c0);
// where x is the window in the Keras weight order ((kh * KW + kw) * C + ch) and
// (r0, c0) is its top-left corner in padded coordinates. nnfab generates one kernel
// per Conv layer (a fixed sum over the nonzero weights only); pooling kernels are below.
#ifndef NNFAB_CNN_H_
#define NNFAB_CNN_H_

namespace nnfab {

// Cast the exact rational (num * 2^-SF) / DEN into Tout with Tout's rounding and
// overflow modes (reference.div_cast). The quotient is written with two extra
// fraction bits that encode the remainder exactly enough for every rounding mode
// (00: exact, 01: below one half, 10: one half, 11: above one half) into Twide
// (ap_fixed<64, 62 - OF>), and the cast Twide -> Tout rounds and saturates like
// ap_fixed does. nnfab checks in Python that every value fits 64 bits.
template <class Tout, class Twide, int SF, int OF, long long DEN>
Tout div_cast(ap_slong num) {
#pragma HLS INLINE
    const int D = OF - SF;
    const ap_slong den = D >= 0 ? ap_slong(DEN) : ap_slong(DEN) << (D >= 0 ? 0 : -D);
    ap_slong a = D >= 0 ? num << (D >= 0 ? D : 0) : num;
    ap_slong q = a / den;  // truncates towards zero
    ap_slong rem = a - q * den;
    if (rem < 0) {  // floor
        q -= 1;
        rem += den;
    }
    ap_slong code = rem == 0 ? 0 : (2 * rem < den ? 1 : (2 * rem == den ? 2 : 3));
    Twide t = from_raw<Twide>(q * 4 + code);
    Tout y = t;
    return y;
}

// Is padded row / column coordinate p inside an axis of length N padded by P before?
template <int P, int N>
inline bool inside(int p) {
#pragma HLS INLINE
    return p >= P && p < P + N;
}

// Max pooling window: the largest value at non-padded positions.
template <class Tin, class Tout, int KH, int KW, int C, int H, int W, int PT, int PL>
struct PoolMax {
    static void compute(const Tin x[KH * KW * C], Tout y[C], int r0, int c0) {
#pragma HLS INLINE
        for (int ch = 0; ch < C; ch++) {
#pragma HLS UNROLL
            Tin best = 0;
            bool any = false;
            for (int kh = 0; kh < KH; kh++) {
#pragma HLS UNROLL
                for (int kw = 0; kw < KW; kw++) {
#pragma HLS UNROLL
                    if (inside<PT, H>(r0 + kh) && inside<PL, W>(c0 + kw)) {
                        Tin v = x[(kh * KW + kw) * C + ch];
                        if (!any || v > best) best = v;
                        any = true;
                    }
                }
            }
            y[ch] = best;
        }
    }
};

// Average pooling window (no padding): exact raw sum, then div_cast by the area.
template <class Tin, class Tout, class Twide, int KH, int KW, int C, int SF, int OF>
struct PoolAvg {
    static void compute(const Tin x[KH * KW * C], Tout y[C], int, int) {
#pragma HLS INLINE
        for (int ch = 0; ch < C; ch++) {
#pragma HLS UNROLL
            ap_slong s = 0;
            for (int k = 0; k < KH * KW; k++) {
#pragma HLS UNROLL
                s += raw64(x[k * C + ch]);
            }
            y[ch] = div_cast<Tout, Twide, SF, OF, (long long)(KH * KW)>(s);
        }
    }
};

// ---- io_parallel drivers -----------------------------------------------------------

// Every output window of an H x W x C input (padded by PT/PL before; PB/PR after are
// implied by OH/OW), computed by Kernel into an OH x OW x F output.
template <class Kernel, class Tin, class Tout, int H, int W, int C, int KH, int KW, int SH,
          int SW, int PT, int PL, int OH, int OW, int F>
void window_array(const Tin x[H * W * C], Tout y[OH * OW * F]) {
#pragma HLS INLINE
    for (int oh = 0; oh < OH; oh++) {
        for (int ow = 0; ow < OW; ow++) {
            const int r0 = oh * SH, c0 = ow * SW;
            Tin win[KH * KW * C];
#pragma HLS ARRAY_PARTITION variable=win complete
            for (int kh = 0; kh < KH; kh++) {
                for (int kw = 0; kw < KW; kw++) {
                    const bool in = inside<PT, H>(r0 + kh) && inside<PL, W>(c0 + kw);
                    for (int ch = 0; ch < C; ch++) {
                        win[(kh * KW + kw) * C + ch] =
                            in ? x[((r0 + kh - PT) * W + (c0 + kw - PL)) * C + ch] : Tin(0);
                    }
                }
            }
            Tout o[F];
#pragma HLS ARRAY_PARTITION variable=o complete
            Kernel::compute(win, o, r0, c0);
            for (int f = 0; f < F; f++) y[(oh * OW + ow) * F + f] = o[f];
        }
    }
}

// Global max / average over N positions of C channels.
template <class Tin, class Tout, int N, int C>
void global_max_array(const Tin x[N * C], Tout y[C]) {
#pragma HLS INLINE
    for (int ch = 0; ch < C; ch++) {
        Tin best = x[ch];
        for (int i = 1; i < N; i++) {
            if (x[i * C + ch] > best) best = x[i * C + ch];
        }
        y[ch] = best;
    }
}

template <class Tin, class Tout, class Twide, int N, int C, int SF, int OF>
void global_avg_array(const Tin x[N * C], Tout y[C]) {
#pragma HLS INLINE
    for (int ch = 0; ch < C; ch++) {
        ap_slong s = 0;
        for (int i = 0; i < N; i++) s += raw64(x[i * C + ch]);
        y[ch] = div_cast<Tout, Twide, SF, OF, (long long)N>(s);
    }
}

// Zero padding of an H x W x C tensor into (PT + H + PB) x (PL + W + PR) x C.
template <class Tin, class Tout, int H, int W, int C, int PT, int PB, int PL, int PR>
void pad_array(const Tin x[H * W * C], Tout y[(H + PT + PB) * (W + PL + PR) * C]) {
#pragma HLS INLINE
    const int WP = W + PL + PR;
    for (int r = 0; r < H + PT + PB; r++) {
        for (int c = 0; c < WP; c++) {
            const bool in = inside<PT, H>(r) && inside<PL, W>(c);
            for (int ch = 0; ch < C; ch++) {
                y[(r * WP + c) * C + ch] = in ? Tout(x[((r - PT) * W + (c - PL)) * C + ch]) : Tout(0);
            }
        }
    }
}

// Cropping of an H x W x C tensor to (H - CT - CB) x (W - CL - CR) x C.
template <class Tin, class Tout, int H, int W, int C, int CT, int CB, int CL, int CR>
void crop_array(const Tin x[H * W * C], Tout y[(H - CT - CB) * (W - CL - CR) * C]) {
#pragma HLS INLINE
    const int WO = W - CL - CR;
    for (int r = 0; r < H - CT - CB; r++) {
        for (int c = 0; c < WO; c++) {
            for (int ch = 0; ch < C; ch++) {
                y[(r * WO + c) * C + ch] = Tout(x[((r + CT) * W + (c + CL)) * C + ch]);
            }
        }
    }
}

// Input flat index of output element i of a D0 x D1 x D2 tensor with its axes permuted
// by (P0, P1, P2): output axis k is input axis Pk.
template <int D0, int D1, int D2, int P0, int P1, int P2>
inline int transposed_index(int i) {
#pragma HLS INLINE
    const int dims[3] = {D0, D1, D2};
    const int strides[3] = {D1 * D2, D2, 1};
    const int o1 = dims[P1], o2 = dims[P2];
    return (i / (o1 * o2)) * strides[P0] + (i / o2 % o1) * strides[P1] + (i % o2) * strides[P2];
}

// Permute: the axes of a D0 x D1 x D2 tensor in the order (P0, P1, P2).
template <class Tin, class Tout, int D0, int D1, int D2, int P0, int P1, int P2>
void transpose_array(const Tin x[D0 * D1 * D2], Tout y[D0 * D1 * D2]) {
#pragma HLS INLINE
    for (int i = 0; i < D0 * D1 * D2; i++) {
        y[i] = Tout(x[transposed_index<D0, D1, D2, P0, P1, P2>(i)]);
    }
}

// Nearest-neighbour upsampling by FH x FW.
template <class Tin, class Tout, int H, int W, int C, int FH, int FW>
void upsample_array(const Tin x[H * W * C], Tout y[H * FH * W * FW * C]) {
#pragma HLS INLINE
    for (int r = 0; r < H * FH; r++) {
        for (int c = 0; c < W * FW; c++) {
            for (int ch = 0; ch < C; ch++) {
                y[(r * W * FW + c) * C + ch] = x[((r / FH) * W + c / FW) * C + ch];
            }
        }
    }
}

// Concatenation along channels: y[p][OFF + ch] = x[p][ch] for the N positions.
template <class Tin, class Tout, int N, int C, int CT, int OFF>
void concat_part_array(const Tin x[N * C], Tout y[N * CT]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
        for (int ch = 0; ch < C; ch++) y[i * CT + OFF + ch] = x[i * C + ch];
    }
}

}  // namespace nnfab

#endif  // NNFAB_CNN_H_
