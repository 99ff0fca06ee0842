// hepinfer kernel library: two-input merges (Add, Multiply, Concatenate), io_parallel.
// Sums and products are exact until the cast to res_T; Concatenate casts each input to res_T.
#ifndef HEPINFER_MERGE_H
#define HEPINFER_MERGE_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void add(const a_T a[CONFIG_T::n_in], const b_T b[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = (res_T)(a[i] + b[i]);
    }
}

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void multiply(const a_T a[CONFIG_T::n_in], const b_T b[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = (res_T)(a[i] * b[i]);
    }
}

// Concatenation along an axis: `outer` blocks, each `a_block` values of a then `b_block` of b.
template <class a_T, class b_T, class res_T, typename CONFIG_T>
void concatenate(const a_T a[CONFIG_T::outer * CONFIG_T::a_block],
                 const b_T b[CONFIG_T::outer * CONFIG_T::b_block],
                 res_T res[CONFIG_T::outer * (CONFIG_T::a_block + CONFIG_T::b_block)]) {
    #pragma HLS PIPELINE
    const int block = CONFIG_T::a_block + CONFIG_T::b_block;
    for (int o = 0; o < CONFIG_T::outer; o++) {
        for (int i = 0; i < CONFIG_T::a_block; i++) res[o * block + i] = (res_T)a[o * CONFIG_T::a_block + i];
        for (int i = 0; i < CONFIG_T::b_block; i++)
            res[o * block + CONFIG_T::a_block + i] = (res_T)b[o * CONFIG_T::b_block + i];
    }
}

}  // namespace hepinfer

#endif
