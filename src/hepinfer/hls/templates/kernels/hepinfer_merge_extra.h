// hepinfer kernel library: Subtract, Average, Maximum and Minimum of two inputs (hls4ml's
// nnet_merge.h); exact until the cast to res_T. io_stream applies them per word.
#ifndef HEPINFER_MERGE_EXTRA_H
#define HEPINFER_MERGE_EXTRA_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void subtract(const a_T a[CONFIG_T::n_in], const b_T b[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = (res_T)(a[i] - b[i]);
    }
}

// (a + b) * 0.5 with the half as ap_ufixed<1,0>, as hls4ml writes it (built from its mantissa
// 1, so no floating-point literal reaches synthesis).
template <class a_T, class b_T, class res_T, typename CONFIG_T>
void average(const a_T a[CONFIG_T::n_in], const b_T b[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    const ap_ufixed<1, 0> half = from_mantissa<ap_ufixed<1, 0> >(ap_int<2>(1));
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = (res_T)((a[i] + b[i]) * half);
    }
}

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void maximum(const a_T a[CONFIG_T::n_in], const b_T b[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = a[i] > b[i] ? (res_T)a[i] : (res_T)b[i];
    }
}

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void minimum(const a_T a[CONFIG_T::n_in], const b_T b[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = a[i] < b[i] ? (res_T)a[i] : (res_T)b[i];
    }
}

}  // namespace hepinfer

#endif
