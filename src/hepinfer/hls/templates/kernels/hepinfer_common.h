// hepinfer kernel library: shared helpers.
#ifndef HEPINFER_COMMON_H
#define HEPINFER_COMMON_H

#include <cmath>

namespace hepinfer {

enum strategy { latency, resource };

// The mantissa (raw integer) of a fixed-point value with `frac` fractional bits.
// Exact for widths up to 53 bits (the writer checks every type it indexes a table with).
template <class T> inline long long mantissa(const T &x, int frac) {
    return (long long)std::ldexp(x.to_double(), frac);
}

// The top `bits` bits of the `width`-bit two's complement pattern of mantissa `m`.
inline unsigned top_bits(long long m, int width, int bits) {
    unsigned long long pattern = (unsigned long long)m & ((width >= 64) ? ~0ULL : ((1ULL << width) - 1));
    int shift = width - bits;
    return (unsigned)(shift >= 0 ? pattern >> shift : pattern << -shift);
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
