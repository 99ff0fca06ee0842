// hepinfer kernel library: merges (Add and Multiply of two inputs, Concatenate of any number),
// io_parallel (io_stream applies add/multiply per word; hepinfer_stream.h concatenates).
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

// Concatenation along an axis, one input at a time: the output is OUTER blocks of BLOCK
// values; this input fills IN_BLOCK values at OFFSET of each block, cast to res_T.
template <class data_T, class res_T, int OUTER, int BLOCK, int IN_BLOCK, int OFFSET>
void concatenate_into(const data_T data[OUTER * IN_BLOCK], res_T res[OUTER * BLOCK]) {
    #pragma HLS INLINE
    for (int o = 0; o < OUTER; o++) {
        #pragma HLS UNROLL
        for (int i = 0; i < IN_BLOCK; i++) {
            #pragma HLS UNROLL
            res[o * BLOCK + OFFSET + i] = (res_T)data[o * IN_BLOCK + i];
        }
    }
}

}  // namespace hepinfer

#endif
