// Softmax with its own table types (hls4ml 1.3's bit-exact softmax_stable, HGQ2's QSoftmax):
// the input read as n_outer x n_slice x n_inner, one softmax over n_slice values per (outer,
// inner) (hls4ml's softmax_multidim). d = x_max - x in norm_t; every bit of d indexes
// exp_table; the exponentials (accum_t) are summed in accum_t, assigned to inv_in_t, whose
// bits index inv_table; the result is exp * inv. With CONFIG_T::latency (hls4ml's
// softmax_latency, HGQ2's stable=False) there is no maximum: norm_t is the input's type and
// the input itself indexes exp_table.
#ifndef HEPINFER_BIT_EXACT_SOFTMAX_H
#define HEPINFER_BIT_EXACT_SOFTMAX_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class T> inline unsigned all_bits(const T &x) {
    #pragma HLS INLINE
    ap_uint<T::width> bits = x.range(T::width - 1, 0);
    return bits.to_uint();
}

template <class data_T, class res_T, typename CONFIG_T>
void bit_exact_softmax(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                       const typename CONFIG_T::exp_table_t exp_table[CONFIG_T::exp_size],
                       const typename CONFIG_T::inv_table_t inv_table[CONFIG_T::inv_size]) {
    #pragma HLS PIPELINE
    const int N = CONFIG_T::n_slice, K = CONFIG_T::n_inner;
    for (int o = 0; o < CONFIG_T::n_outer; o++) {
        #pragma HLS UNROLL
        for (int k = 0; k < K; k++) {
            #pragma HLS UNROLL
            const int base = o * N * K + k;
            data_T x_max = data[base];
            if (!CONFIG_T::latency) {
                for (int j = 1; j < N; j++) {
                    #pragma HLS UNROLL
                    if (data[base + j * K] > x_max) x_max = data[base + j * K];
                }
            }
            typename CONFIG_T::accum_t exp_res[CONFIG_T::n_slice];
            #pragma HLS ARRAY_PARTITION variable = exp_res complete
            typename CONFIG_T::accum_t sum = 0;
            for (int j = 0; j < N; j++) {
                #pragma HLS UNROLL
                typename CONFIG_T::norm_t d;
                if (CONFIG_T::latency) {
                    d = data[base + j * K];
                } else {
                    d = x_max - data[base + j * K];
                }
                exp_res[j] = exp_table[all_bits(d)];
                sum += exp_res[j];
            }
            typename CONFIG_T::inv_in_t exp_sum = sum;
            typename CONFIG_T::inv_table_t inv = inv_table[all_bits(exp_sum)];
            for (int j = 0; j < N; j++) {
                #pragma HLS UNROLL
                res[base + j * K] = exp_res[j] * inv;
            }
        }
    }
}

}  // namespace hepinfer

#endif
