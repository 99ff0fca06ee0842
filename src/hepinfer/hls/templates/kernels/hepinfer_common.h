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

template <class data_T, class res_T, int N> void copy(const data_T data[N], res_T res[N]) {
    #pragma HLS INLINE
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        res[i] = data[i];
    }
}

}  // namespace hepinfer

#endif
