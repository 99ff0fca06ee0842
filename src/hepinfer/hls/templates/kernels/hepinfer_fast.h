// hepinfer kernel library: C-simulation fast paths (never synthesised) of Dense, Conv2D, ReLU,
// linear, BatchNorm, table softmax and of the C ABI's double conversions.
//
// Every value is read and written through its raw bits: `V` of hepinfer's ap_types_lite, or
// `V.VAL` of Xilinx's ap_private (a value of at most 64 bits, kept sign- or zero-extended),
// never through to_double() or Xilinx's arbitrary-precision arithmetic. Casts (cast_mant) apply
// Xilinx's quantisation and overflow rules to an exact integer (the rules of ap_types_lite's
// cast_in); element-wise layers form their exact intermediate values (products, sums, the
// softmax's max - x) on 64-bit mantissas when they fit in 62 bits, else the firmware runs.
//
// The firmware kernels (hepinfer_dense.h, hepinfer_conv.h) stay as they are for synthesis;
// in C simulation (no __SYNTHESIS__) a Latency-strategy layer whose types all have a known
// fixed-point format and whose accumulator WRAPs computes the same bits on integer mantissas:
//
//   acc[j] = wrap_W(bias_m[j] + sum_i q(x_m[i] * w_m[i][j]))      (W: the accumulator width)
//
// where q is the accumulator's quantisation of the exact product (a shift with the
// accumulator's rounding mode) and wrap_W keeps the low W bits, sign-extended. Each
// `acc += product` of the kernel wraps the same way, and wrapping commutes with the sum, so
// the sum is taken modulo 2**32 or 2**64 (unsigned lanes) and wrapped once. Products are exact
// in 32-bit lanes when the two mantissas have at most 32 bits together (16-bit types), else
// in 64-bit lanes; otherwise (widths over 53 bits, saturating accumulators, Resource layouts)
// the firmware kernel runs. The result cast (accumulator -> res_T) is the header's own.
// Weights are converted once per loaded weight set (the generation counter of
// hepinfer_common.h); define HEPINFER_CSIM_NO_FAST_PATH to run the firmware kernels instead.
#ifndef HEPINFER_FAST_H
#define HEPINFER_FAST_H

#ifndef __SYNTHESIS__
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "hepinfer_common.h"

namespace hepinfer {
namespace fast {
// Internal linkage: the caches below are function-local statics of templates, which g++ would
// otherwise make STB_GNU_UNIQUE symbols shared by every loaded library that names the same
// layer config (each C simulation has its own `config1`): one model's buffers in another's.
namespace {

// The fixed-point format of T (valid = 0: unknown, the firmware kernel runs).
template <class T> struct fmt {
    enum { valid = 0, w = 64, f = 0, s = 1, n = 0 };
    static const ap_q_mode q = AP_TRN;
    static const ap_o_mode o = AP_SAT;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct fmt<ap_fixed<W, I, Q, O, N> > {
    enum { valid = 1, w = W, f = W - I, s = 1, n = N };
    static const ap_q_mode q = Q;
    static const ap_o_mode o = O;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct fmt<ap_ufixed<W, I, Q, O, N> > {
    enum { valid = 1, w = W, f = W - I, s = 0, n = N };
    static const ap_q_mode q = Q;
    static const ap_o_mode o = O;
};
template <int W> struct fmt<ap_int<W> > {
    enum { valid = 1, w = W, f = 0, s = 1, n = 0 };
    static const ap_q_mode q = AP_TRN;
    static const ap_o_mode o = AP_WRAP;
};
template <int W> struct fmt<ap_uint<W> > {
    enum { valid = 1, w = W, f = 0, s = 0, n = 0 };
    static const ap_q_mode q = AP_TRN;
    static const ap_o_mode o = AP_WRAP;
};

// Bits of a signed integer holding every mantissa of T.
template <class T> struct mbits {
    enum { value = fmt<T>::w + (fmt<T>::s ? 0 : 1) };
};

// The loops below vectorised (g++ -O2 alone leaves reductions and remainders scalar).
#if defined(__GNUC__) && !defined(__clang__)
#define HEPINFER_FAST_LOOPS __attribute__((optimize("O3")))
#else
#define HEPINFER_FAST_LOOPS
#endif

// Layers with fewer outputs than this sum output by output (a dot product per output).
enum { FEW_OUTPUTS = 8 };

// The mantissa of x, read from the raw bits (T has at most 53 bits). Xilinx's headers keep a
// value of at most 64 bits in `V.VAL` (ap_private), sign- or zero-extended to its C integer.
template <class T> inline long long mant(const T &x) {
#ifdef HEPINFER_AP_TYPES_LITE
    return (long long)x.V;
#else
    return (long long)x.V.get_VAL();
#endif
}

// The value of T whose mantissa is m (m in T's range), written into the raw bits.
template <class T> inline T from_mant(long long m) {
    T r;
#ifdef HEPINFER_AP_TYPES_LITE
    r.V = m;
#else
    r.V.set_VAL((unsigned long long)m);
    r.V.clearUnusedBits();
#endif
    return r;
}

// Whether values of T convert on integers here (a known format of at most 53 bits, no
// saturation bits); otherwise the header's own conversions run.
template <class T> struct castable {
    enum { value = fmt<T>::valid && fmt<T>::w <= 53 && fmt<T>::n == 0 };
};

// p * 2**-K rounded in mode Q (K > 0), or p * 2**-K exactly (K <= 0): Xilinx's quantisation
// of an exact value with K more fractional bits than the target. |K| < bits of S - 1.
template <ap_q_mode Q, int K, class S> inline S quantise(S p) {
    typedef typename std::make_unsigned<S>::type U;
    if (K <= 0) return (S)((U)p << (K <= 0 ? -K : 0));
    const int k = K > 0 ? K : 1;
    const S r = p >> k;
    const S rem = p - (S)((U)r << k);
    const S half = (S)1 << (k - 1);
    const bool neg = p < 0;
    switch (Q) {
    case AP_TRN: return r;
    case AP_TRN_ZERO: return r + (neg && rem != 0);
    case AP_RND: return r + (rem >= half);
    case AP_RND_ZERO: return r + (rem > half || (rem == half && neg));
    case AP_RND_MIN_INF: return r + (rem > half);
    case AP_RND_INF: return r + (rem > half || (rem == half && !neg));
    case AP_RND_CONV: return r + (rem > half || (rem == half && (r & 1)));
    }
    return r;
}

// Low W bits of v, sign-extended when S (two's complement wrap).
template <int W, bool SIGNED> inline long long wrap(unsigned long long v) {
    if (W >= 64) return (long long)v;
    const unsigned long long mask = (W >= 64) ? ~0ULL : ((1ULL << (W < 64 ? W : 1)) - 1);
    const unsigned long long low = v & mask;
    if (SIGNED && ((low >> (W - 1)) & 1)) return (long long)(low | ~mask);
    return (long long)low;
}

// Xilinx's cast of the exact value v * 2**-sf (|v| < 2**62) to T (castable): quantisation in
// T's mode, then overflow in T's mode (the rules of ap_types_lite's cast_in, for one 64-bit
// lane). Returns T's mantissa.
template <class T> __attribute__((always_inline)) inline long long cast_mant(long long v, int sf) {
    typedef unsigned long long U;
    enum { W = fmt<T>::w, SIGNED = fmt<T>::s, F = fmt<T>::f };
    const ap_q_mode q = fmt<T>::q;
    const ap_o_mode o = fmt<T>::o;
    const int sh = sf - F;
    long long r;
    U shifted;
    bool big = false;  // the quantised value does not fit in 64 bits (it overflows T)
    if (sh > 0) {
        if (sh >= 62) {
            r = (q == AP_TRN && v < 0) ? -1 : 0;
        } else {
            r = v >> sh;
            const long long rem = v - (long long)((U)r << sh);
            const long long half = 1LL << (sh - 1);
            const bool neg = v < 0;
            switch (q) {
            case AP_TRN: break;
            case AP_TRN_ZERO: r += (neg && rem != 0); break;
            case AP_RND: r += (rem >= half); break;
            case AP_RND_ZERO: r += (rem > half || (rem == half && neg)); break;
            case AP_RND_MIN_INF: r += (rem > half); break;
            case AP_RND_INF: r += (rem > half || (rem == half && !neg)); break;
            case AP_RND_CONV: r += (rem > half || (rem == half && (r & 1))); break;
            }
        }
        shifted = (U)r;
    } else if (sh == 0) {
        r = v;
        shifted = (U)v;
    } else if (-sh >= 63) {
        big = v != 0;
        r = 0;
        shifted = 0;
    } else {
        shifted = (U)v << -sh;
        r = (long long)shifted;
        big = (r >> -sh) != v;
    }
    if (o == AP_WRAP && !big) return wrap<W, SIGNED != 0>(shifted);
    const long long hi = SIGNED ? (1LL << (W - 1)) - 1 : (1LL << W) - 1;
    const long long lo = SIGNED ? -hi - 1 : 0;
    const bool over = big ? v > 0 : r > hi;
    const bool under = big ? v < 0 : r < lo;
    long long out = wrap<W, SIGNED != 0>(shifted);
    const bool sym = o == AP_SAT_SYM && SIGNED && W > 1;
    if (o == AP_SAT || o == AP_SAT_SYM) {
        if (over) out = hi;
        if (under) out = sym ? -hi : lo;
        if (sym && out == lo) out = -hi;
    } else if (o == AP_SAT_ZERO) {
        if (over || under) out = 0;
    }
    return out;
}

// A power of two as a double (exact for |e| < 1023).
inline double pow2(int e) {
    double r = 1.0;
    const double step = e < 0 ? 0.5 : 2.0;
    for (int i = 0; i < (e < 0 ? -e : e); i++) r *= step;
    return r;
}

// (T)d, Xilinx's conversion of a double, on the double's bits: d = +-m * 2**(field - 1075)
// for a normal double (zero, subnormals, infinities and NaN take the header's conversion).
template <class T> inline T from_double(double d) {
    if (!castable<T>::value) return (T)d;
    unsigned long long bits;
    std::memcpy(&bits, &d, sizeof bits);
    const int field = (int)((bits >> 52) & 0x7ff);
    if (field == 0 || field == 0x7ff) return (T)d;
    const long long mag = (long long)((bits & 0xfffffffffffffULL) | (1ULL << 52));
    return from_mant<T>(cast_mant<T>((bits >> 63) ? -mag : mag, 1075 - field));
}

// x.to_double(), exact (T castable: at most 53 bits), a product by a power of two.
template <class T> inline double to_double(const T &x) {
    if (!castable<T>::value) return x.to_double();
    static const double scale = pow2(-(int)fmt<T>::f);
    return (double)mant(x) * scale;
}

// The C ABI's conversions (csim/bridge.cpp): from_double / to_double, or the header's own
// with HEPINFER_CSIM_NO_FAST_PATH.
template <class T> inline T input(double d) {
#ifdef HEPINFER_CSIM_NO_FAST_PATH
    return (T)d;
#else
    return from_double<T>(d);
#endif
}
template <class T> inline double output(const T &x) {
#ifdef HEPINFER_CSIM_NO_FAST_PATH
    return x.to_double();
#else
    return to_double(x);
#endif
}

// (res_T)x for castable types, on mantissas.
template <class res_T, class data_T> inline res_T cast(const data_T &x) {
    return from_mant<res_T>(cast_mant<res_T>(mant(x), fmt<data_T>::f));
}

// Linear (a cast per value); false when the types need the firmware kernel.
template <class data_T, class res_T, typename CONFIG_T> inline bool linear(const data_T *data, res_T *res) {
    if (!castable<data_T>::value || !castable<res_T>::value) return false;
    for (int i = 0; i < CONFIG_T::n_in; i++) res[i] = cast<res_T>(data[i]);
    return true;
}

// ReLU: (res_T)x for x > 0, else 0; false when the types need the firmware kernel.
template <class data_T, class res_T, typename CONFIG_T> inline bool relu(const data_T *data, res_T *res) {
    if (!castable<data_T>::value || !castable<res_T>::value) return false;
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        const long long m = mant(data[i]);
        res[i] = from_mant<res_T>(m > 0 ? cast_mant<res_T>(m, fmt<data_T>::f) : 0);
    }
    return true;
}

// BatchNorm: res = (res_T)(data * scale + bias), per channel; the exact product and sum on
// 64-bit mantissas when they fit in 62 bits; false when the types need the firmware kernel.
template <class data_T, class res_T, typename CONFIG_T>
inline bool normalize(const data_T *data, res_T *res, const typename CONFIG_T::weight_t *scale,
                      const typename CONFIG_T::bias_t *bias) {
    typedef typename CONFIG_T::weight_t weight_t;
    typedef typename CONFIG_T::bias_t bias_t;
    enum {
        fp = (int)fmt<data_T>::f + (int)fmt<weight_t>::f,
        fb = (int)fmt<bias_t>::f,
        sf = fp > fb ? fp : fb,
        bits_p = (int)mbits<data_T>::value + (int)mbits<weight_t>::value + (sf - fp),
        bits_b = (int)mbits<bias_t>::value + (sf - fb),
        ok = castable<data_T>::value && castable<weight_t>::value && castable<bias_t>::value &&
             castable<res_T>::value && bits_p <= 61 && bits_b <= 61
    };
    if (!ok) return false;
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        const int c = i % CONFIG_T::n_chan;
        const long long p = mant(data[i]) * mant(scale[c]);
        const long long v = (long long)((unsigned long long)p << (sf - fp)) +
                            (long long)((unsigned long long)mant(bias[c]) << (sf - fb));
        res[i] = from_mant<res_T>(cast_mant<res_T>(v, sf));
    }
    return true;
}

// The top BITS bits of T's bit pattern (zeros below when T is narrower): top_bits of
// hepinfer_common.h on a mantissa.
template <int BITS, class T> inline unsigned top_bits_of(long long m) {
    enum { W = fmt<T>::w };
    const unsigned long long pattern = (unsigned long long)m & (W >= 64 ? ~0ULL : ((1ULL << (W < 64 ? W : 1)) - 1));
    if (W >= BITS) return (unsigned)(pattern >> (W >= BITS ? W - BITS : 0));
    return (unsigned)(pattern << (W >= BITS ? 0 : BITS - W));
}

// Mantissa of (To)(a + b) for a, b the mantissas of an A and a B (exact sum, then the cast).
template <class To, class A, class B> inline long long add_cast(long long a, long long b) {
    enum { fa = (int)fmt<A>::f, fb = (int)fmt<B>::f, sf = fa > fb ? fa : fb };
    const long long v = (long long)((unsigned long long)a << (sf - fa)) + (long long)((unsigned long long)b << (sf - fb));
    return cast_mant<To>(v, sf);
}

// Softmax (latency and stable tables; argmax runs the firmware kernel) on mantissas: the same
// table indices, casts and sums as hepinfer_softmax.h; false when the types need the kernel.
template <class data_T, class res_T, typename CONFIG_T>
inline bool softmax(const data_T *data, res_T *res, const typename CONFIG_T::table_t *exp_table,
                    const typename CONFIG_T::table_t *inv_table, bool stable, bool latency) {
    typedef typename CONFIG_T::table_t table_t;
    typedef typename CONFIG_T::accum_t accum_t;
    typedef typename CONFIG_T::wide_t wide_t;
    typedef typename CONFIG_T::inv_in_t inv_in_t;
    typedef typename CONFIG_T::norm_t norm_t;
    enum {
        fa = (int)fmt<accum_t>::f, fw = (int)fmt<wide_t>::f, fd = (int)fmt<data_T>::f,
        bw = (int)mbits<wide_t>::value + (fa > fw ? fa - fw : 0),
        ba = (int)mbits<accum_t>::value + (fw > fa ? fw - fa : 0),
        sum_bits = bw > ba ? bw : ba,
        ok = castable<data_T>::value && castable<res_T>::value && castable<table_t>::value &&
             castable<accum_t>::value && castable<wide_t>::value && castable<inv_in_t>::value &&
             castable<norm_t>::value && (int)mbits<data_T>::value <= 60 && sum_bits <= 61 &&
             (int)mbits<accum_t>::value + (int)mbits<table_t>::value <= 62
    };
    if (!ok || !(stable || latency)) return false;
    const int n = CONFIG_T::n_in;
    long long exp_res[CONFIG_T::n_in];
    long long x_max = mant(data[0]);
    for (int i = 1; i < n; i++) {
        const long long m = mant(data[i]);
        if (m > x_max) x_max = m;
    }
    long long total = 0;  // wide_t's mantissa
    for (int i = 0; i < n; i++) {
        unsigned idx;
        if (stable) {
            idx = top_bits_of<CONFIG_T::exp_bits, norm_t>(cast_mant<norm_t>(x_max - mant(data[i]), fd));
        } else {
            idx = top_bits_of<CONFIG_T::exp_bits, data_T>(mant(data[i]));
        }
        exp_res[i] = cast_mant<accum_t>(mant(exp_table[idx]), fmt<table_t>::f);
        total = add_cast<wide_t, wide_t, accum_t>(total, exp_res[i]);
    }
    const long long sum = cast_mant<accum_t>(total, fw);
    const long long exp_sum = cast_mant<inv_in_t>(sum, fa);
    const long long inv = mant(inv_table[top_bits_of<CONFIG_T::inv_bits, inv_in_t>(exp_sum)]);
    for (int i = 0; i < n; i++) res[i] = from_mant<res_T>(cast_mant<res_T>(exp_res[i] * inv, fa + fmt<table_t>::f));
    return true;
}

// Whether a layer with these types runs on mantissas, and in which lanes.
template <class data_T, class weight_t, class bias_t, class accum_t> struct plan {
    enum {
        mx = mbits<data_T>::value,
        mw = mbits<weight_t>::value,
        k = fmt<data_T>::f + fmt<weight_t>::f - fmt<accum_t>::f,
        left = k < 0 ? -k : 0,
        formats = fmt<data_T>::valid && fmt<weight_t>::valid && fmt<bias_t>::valid && fmt<accum_t>::valid,
        narrow = mx <= 53 && mw <= 53 && fmt<bias_t>::w <= 53 && fmt<accum_t>::w <= 53,
        wraps = fmt<accum_t>::o == AP_WRAP && fmt<accum_t>::n == 0,
        lanes32 = mx + mw + left <= 32 && k <= 29 && fmt<accum_t>::w <= 32,
        lanes64 = mx + mw + left <= 63 && k <= 61,
        ok = formats && narrow && wraps && (lanes32 || lanes64)
    };
    typedef typename std::conditional<lanes32, int32_t, long long>::type S;
    typedef typename std::make_unsigned<S>::type U;
};

// Mantissas of the weights (in the product lanes) and of the biases cast to the accumulator,
// converted again whenever another weight set was loaded (or other arrays are passed).
template <class CONFIG_T, class weight_t, class bias_t, class S> struct cached_weights {
    typedef typename CONFIG_T::accum_t accum_t;
    std::vector<S> w;   // (n_in, n_out) row-major, as the firmware's
    std::vector<S> wt;  // (n_out, n_in): one output's weights contiguous (few outputs)
    std::vector<long long> b;
    const void *wsrc = 0;
    const void *bsrc = 0;
    unsigned generation = ~0u;

    void update(const weight_t *weights, int n_weights, const bias_t *biases, int n_bias) {
        if (wsrc == weights && bsrc == biases && generation == weights_generation()) return;
        w.resize(n_weights);
        for (int i = 0; i < n_weights; i++) w[i] = (S)mant(weights[i]);
        const int n_in = n_weights / n_bias;
        wt.resize(n_weights);
        for (int i = 0; i < n_in; i++)
            for (int j = 0; j < n_bias; j++) wt[(long)j * n_in + i] = w[(long)i * n_bias + j];
        b.resize(n_bias);
        for (int j = 0; j < n_bias; j++) b[j] = mant((accum_t)biases[j]);
        wsrc = weights;
        bsrc = biases;
        generation = weights_generation();
    }
};

// acc[j] += sum over the n rows i of q(x[i] * w[i][j]), for NOUT outputs. With many outputs
// row by row (rows with x[i] == 0 skipped: q(0) = 0 in every mode) over `w` ((n, NOUT),
// stride NOUT); with few, output by output over `wt` ((NOUT, ...), stride `ld`).
template <ap_q_mode Q, int K, class S, int NOUT>
HEPINFER_FAST_LOOPS inline void accumulate(const S *x, int n, const S *w, const S *wt, long ld,
                       typename std::make_unsigned<S>::type *acc) {
    typedef typename std::make_unsigned<S>::type U;
    if (NOUT < FEW_OUTPUTS) {
        for (int j = 0; j < NOUT; j++) {
            const S *col = wt + j * ld;
            U sum = 0;
            for (int i = 0; i < n; i++) sum += (U)quantise<Q, K, S>((S)(x[i] * col[i]));
            acc[j] += sum;
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        const S xi = x[i];
        if (xi == 0) continue;
        const S *row = w + (long)i * NOUT;
        for (int j = 0; j < NOUT; j++) acc[j] += (U)quantise<Q, K, S>((S)(xi * row[j]));
    }
}

// The res_T values of the wrapped accumulators.
template <class res_T, class accum_t, class U, int NOUT> inline void store(const U *acc, res_T *res) {
    for (int j = 0; j < NOUT; j++) {
        const long long m = wrap<fmt<accum_t>::w, fmt<accum_t>::s != 0>((unsigned long long)(long long)acc[j]);
        res[j] = (res_T)from_mant<accum_t>(m);
    }
}

// Dense, Latency strategy; false when the layer's types need the firmware kernel.
template <class data_T, class res_T, typename CONFIG_T>
HEPINFER_FAST_LOOPS bool dense(const data_T *data, res_T *res, const typename CONFIG_T::weight_t *weights,
                  const typename CONFIG_T::bias_t *biases) {
    typedef typename CONFIG_T::weight_t weight_t;
    typedef typename CONFIG_T::bias_t bias_t;
    typedef typename CONFIG_T::accum_t accum_t;
    typedef plan<data_T, weight_t, bias_t, accum_t> P;
    typedef typename P::S S;
    typedef typename P::U U;
    if (!P::ok || CONFIG_T::strategy != latency) return false;
    static cached_weights<CONFIG_T, weight_t, bias_t, S> cache;
    cache.update(weights, CONFIG_T::n_in * CONFIG_T::n_out, biases, CONFIG_T::n_out);
    S x[CONFIG_T::n_in];
    for (int i = 0; i < CONFIG_T::n_in; i++) x[i] = (S)mant(data[i]);
    U acc[CONFIG_T::n_out];
    for (int j = 0; j < CONFIG_T::n_out; j++) acc[j] = (U)cache.b[j];
    accumulate<fmt<accum_t>::q, P::k, S, CONFIG_T::n_out>(x, CONFIG_T::n_in, cache.w.data(), cache.wt.data(),
                                                           CONFIG_T::n_in, acc);
    store<res_T, accum_t, U, CONFIG_T::n_out>(acc, res);
    return true;
}

// Conv2D (channels last), Latency strategy: the input's mantissas once, then per output pixel
// the window's rows (kernel row, column: n_chan values each, zero outside the input) added
// into the pixel's accumulators; false when the types need the firmware kernel.
template <class data_T, class res_T, typename CONFIG_T>
HEPINFER_FAST_LOOPS bool conv_2d_cl(const data_T *data, res_T *res, const typename CONFIG_T::weight_t *weights,
                       const typename CONFIG_T::bias_t *biases) {
    typedef typename CONFIG_T::weight_t weight_t;
    typedef typename CONFIG_T::bias_t bias_t;
    typedef typename CONFIG_T::accum_t accum_t;
    typedef plan<data_T, weight_t, bias_t, accum_t> P;
    typedef typename P::S S;
    typedef typename P::U U;
    if (!P::ok || CONFIG_T::strategy != latency) return false;
    const int chans = CONFIG_T::n_chan, filts = CONFIG_T::n_filt;
    const int in_size = CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan;
    static cached_weights<CONFIG_T, weight_t, bias_t, S> cache;
    cache.update(weights, CONFIG_T::n_in * CONFIG_T::n_out, biases, CONFIG_T::n_out);
    static std::vector<S> x(in_size);
    for (int i = 0; i < in_size; i++) x[i] = (S)mant(data[i]);
    for (int oh = 0; oh < CONFIG_T::out_height; oh++) {
        for (int ow = 0; ow < CONFIG_T::out_width; ow++) {
            U acc[CONFIG_T::n_filt];
            for (int f = 0; f < filts; f++) acc[f] = (U)cache.b[f];
            for (int kh = 0; kh < CONFIG_T::filt_height; kh++) {
                const int ih = oh * CONFIG_T::stride_height - CONFIG_T::pad_top + kh * CONFIG_T::dilation_height;
                if (ih < 0 || ih >= CONFIG_T::in_height) continue;
                if (CONFIG_T::dilation_width == 1) {  // the kernel row's columns inside: one run
                    const int iw0 = ow * CONFIG_T::stride_width - CONFIG_T::pad_left;
                    const int kw0 = iw0 < 0 ? -iw0 : 0;
                    const int over = iw0 + CONFIG_T::filt_width - CONFIG_T::in_width;
                    const int kw1 = CONFIG_T::filt_width - (over > 0 ? over : 0);
                    if (kw1 <= kw0) continue;
                    const S *px = x.data() + (ih * CONFIG_T::in_width + iw0 + kw0) * chans;
                    const int k0 = (kh * CONFIG_T::filt_width + kw0) * chans;
                    accumulate<fmt<accum_t>::q, P::k, S, CONFIG_T::n_filt>(
                        px, (kw1 - kw0) * chans, cache.w.data() + k0 * filts, cache.wt.data() + k0, CONFIG_T::n_in, acc);
                    continue;
                }
                for (int kw = 0; kw < CONFIG_T::filt_width; kw++) {
                    const int iw = ow * CONFIG_T::stride_width - CONFIG_T::pad_left + kw * CONFIG_T::dilation_width;
                    if (iw < 0 || iw >= CONFIG_T::in_width) continue;
                    const S *px = x.data() + (ih * CONFIG_T::in_width + iw) * chans;
                    const int k0 = (kh * CONFIG_T::filt_width + kw) * chans;
                    accumulate<fmt<accum_t>::q, P::k, S, CONFIG_T::n_filt>(
                        px, chans, cache.w.data() + k0 * filts, cache.wt.data() + k0, CONFIG_T::n_in, acc);
                }
            }
            store<res_T, accum_t, U, CONFIG_T::n_filt>(acc, res + (oh * CONFIG_T::out_width + ow) * filts);
        }
    }
    return true;
}

}  // namespace
}  // namespace fast
}  // namespace hepinfer

#endif  // __SYNTHESIS__
#endif
