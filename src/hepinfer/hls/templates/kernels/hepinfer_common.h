// hepinfer kernel library: shared helpers.
#ifndef HEPINFER_COMMON_H
#define HEPINFER_COMMON_H

#include "ap_fixed.h"
#include "ap_int.h"

namespace hepinfer {

enum strategy { latency, resource };

#ifndef __SYNTHESIS__
// C simulation: bumped whenever weights are read at run time (hepinfer_weights.h), so that
// the fast paths of hepinfer_fast.h convert them again. Static: one counter per translation
// unit, never shared between the libraries of two models.
static inline unsigned &weights_generation() {
    static unsigned generation = 0;
    return generation;
}
#endif

// Whether a fixed-point or integer type is signed (Xilinx's ap_fixed_base has no flag for it).
template <class T> struct is_signed;
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct is_signed<ap_fixed<W, I, Q, O, N> > {
    enum { value = 1 };
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct is_signed<ap_ufixed<W, I, Q, O, N> > {
    enum { value = 0 };
};
template <int W> struct is_signed<ap_int<W> > {
    enum { value = 1 };
};
template <int W> struct is_signed<ap_uint<W> > {
    enum { value = 0 };
};

// Bits an integer type needs to hold every value of a fixed-point type T as an integer
// (its mantissa): T's width, one more for an unsigned type.
template <class T> struct mantissa_bits {
    enum { value = T::width + (is_signed<T>::value ? 0 : 1) };
};

// The mantissa (raw integer) of a fixed-point value: its bit pattern, a free bit slice.
template <class T> inline ap_int<mantissa_bits<T>::value> mantissa(const T &x) {
    #pragma HLS INLINE
    ap_uint<T::width> bits = x.range(T::width - 1, 0);
    ap_int<T::width> as_signed = bits;  // the same bits, read as two's complement
    ap_int<mantissa_bits<T>::value> m;
    if (is_signed<T>::value) {
        m = as_signed;
    } else {
        m = bits;
    }
    return m;
}

// The top BITS bits of the bit pattern of x (zeros below when x is narrower): a bit slice.
template <int BITS, class T> inline unsigned top_bits(const T &x) {
    #pragma HLS INLINE
    ap_uint<T::width> bits = x.range(T::width - 1, 0);
    if (T::width >= BITS) {
        ap_uint<T::width> top = bits >> (T::width >= BITS ? T::width - BITS : 0);
        return top.to_uint();
    }
    ap_uint<BITS> wide = bits;
    ap_uint<BITS> low = wide << (T::width >= BITS ? 0 : BITS - T::width);
    return low.to_uint();
}

// v * 2**-S: truncated (a right shift) for S >= 0, exact (a left shift, wider) for S < 0.
template <int S, int W> inline ap_uint<(S < 0 ? W - S : W)> shift_down(const ap_uint<W> &v) {
    #pragma HLS INLINE
    ap_uint<(S < 0 ? W - S : W)> r = v;
    if (S >= 0) {
        r = r >> (S >= 0 ? S : 0);
    } else {
        r = r << (S < 0 ? -S : 0);
    }
    return r;
}

// The value of type T whose mantissa is m (m in T's range): the integer m with its binary
// point moved by T's fractional bits, a shift.
template <class T, int W> inline T from_mantissa(const ap_int<W> &m) {
    #pragma HLS INLINE
    enum { F = T::width - T::iwidth, P = F > 0 ? F : 0, N = F < 0 ? -F : 0 };
    ap_fixed<W + P + N, W + N> v = m;
    if (F >= 0) {
        v = v >> P;
    } else {
        v = v << N;
    }
    return (T)v;
}

// The most negative value of type T (0 when unsigned): the bit pattern 10...0 or 0...0.
template <class T> inline T lowest() {
    #pragma HLS INLINE
    enum { M = mantissa_bits<T>::value };
    ap_int<M> m = 0;
    if (is_signed<T>::value) {
        ap_int<M> one = 1;
        m = one << (M - 1);
    }
    return from_mantissa<T>(m);
}

// |m| as an unsigned integer of the same width (exact: -2**(W-1) fits in W unsigned bits).
template <int W> inline ap_uint<W> magnitude(const ap_int<W> &m) {
    #pragma HLS INLINE
    ap_uint<W> r;
    if (m < 0) {
        r = -m;
    } else {
        r = m;
    }
    return r;
}

// A vector of N values carried by one stream word (io_stream).
template <class T, int N> struct packet {
    T data[N];
    T &operator[](int i) { return data[i]; }
    const T &operator[](int i) const { return data[i]; }
};

// CONFIG_T with n_in = n_out = W: an array kernel applied to W values (one io_stream word,
// or one row of a softmax over the last axis).
template <typename CONFIG_T, int W> struct word_config : CONFIG_T {
    static const int n_in = W;
    static const int n_out = W;
};

template <class data_T, class res_T, int N> void copy(const data_T data[N], res_T res[N]) {
    #pragma HLS INLINE
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        res[i] = data[i];
    }
}

// Transpose of up to 3 axes: in_shape (d0, d1, d2) (leading 1s for fewer axes), output axis
// k is input axis perm_k.
template <class data_T, class res_T, typename CONFIG_T>
void transpose(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    const int in_shape[3] = {CONFIG_T::d0, CONFIG_T::d1, CONFIG_T::d2};
    const int perm[3] = {CONFIG_T::perm0, CONFIG_T::perm1, CONFIG_T::perm2};
    const int in_stride[3] = {CONFIG_T::d1 * CONFIG_T::d2, CONFIG_T::d2, 1};
    const int o1 = in_shape[perm[1]], o2 = in_shape[perm[2]];
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        const int idx[3] = {i / (o1 * o2), (i / o2) % o1, i % o2};
        int src = 0;
        for (int k = 0; k < 3; k++) src += idx[k] * in_stride[perm[k]];
        res[i] = (res_T)data[src];
    }
}

}  // namespace hepinfer

#endif
