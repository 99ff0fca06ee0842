// hepinfer kernel library: table-based softmax (hls4ml's latency / stable / argmax forms).
//
// A table index is the top bits of the bit pattern of the input (stable: of max - x in
// norm_t), a bit slice; exp_table holds exp of the value those bits encode, inv_table 1 /
// value of the exponent sum's top bits. Sums are formed in wide_t (accum_t with the bits n
// terms need) and assigned to accum_t once.
#ifndef HEPINFER_SOFTMAX_H
#define HEPINFER_SOFTMAX_H

#include "hepinfer_common.h"
#include "hepinfer_fast.h"

namespace hepinfer {

enum softmax_implementation { softmax_latency, softmax_stable, softmax_argmax };

template <class data_T, class res_T, typename CONFIG_T>
void softmax(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
             const typename CONFIG_T::table_t exp_table[CONFIG_T::exp_size],
             const typename CONFIG_T::table_t inv_table[CONFIG_T::inv_size]) {
    #pragma HLS PIPELINE
#if !defined(__SYNTHESIS__) && !defined(HEPINFER_CSIM_NO_FAST_PATH)
    if (fast::softmax<data_T, res_T, CONFIG_T>(data, res, exp_table, inv_table,
                                              CONFIG_T::implementation == softmax_stable,
                                              CONFIG_T::implementation == softmax_latency))
        return;  // C simulation
#endif
    const int n = CONFIG_T::n_in;
    if (CONFIG_T::implementation == softmax_argmax) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (data[i] > data[best]) best = i;
        }
        for (int i = 0; i < n; i++) {
            #pragma HLS UNROLL
            res[i] = (i == best) ? (res_T)1 : (res_T)0;
        }
        return;
    }
    typename CONFIG_T::accum_t exp_res[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable = exp_res complete
    typename CONFIG_T::wide_t total = 0;
    data_T x_max = data[0];
    for (int i = 1; i < n; i++) {
        #pragma HLS UNROLL
        if (data[i] > x_max) x_max = data[i];
    }
    for (int i = 0; i < n; i++) {
        #pragma HLS UNROLL
        unsigned idx;
        if (CONFIG_T::implementation == softmax_stable) {
            typename CONFIG_T::norm_t d = x_max - data[i];
            idx = top_bits<CONFIG_T::exp_bits>(d);
        } else {
            idx = top_bits<CONFIG_T::exp_bits>(data[i]);
        }
        exp_res[i] = (typename CONFIG_T::accum_t)exp_table[idx];
        total += exp_res[i];
    }
    typename CONFIG_T::accum_t sum = (typename CONFIG_T::accum_t)total;
    typename CONFIG_T::inv_in_t exp_sum = (typename CONFIG_T::inv_in_t)sum;
    unsigned inv_idx = top_bits<CONFIG_T::inv_bits>(exp_sum);
    typename CONFIG_T::table_t inv = inv_table[inv_idx];
    for (int i = 0; i < n; i++) {
        #pragma HLS UNROLL
        res[i] = (res_T)(exp_res[i] * inv);
    }
}

}  // namespace hepinfer

#endif
