// LayerNormalization (hls4ml's nnet_layernorm.h): per row of dim values, the inputs cast to
// accum_t and summed in accum_t, mean = sum * k_inv; diff_i = x_i - mean, diff_i * diff_i
// assigned to accum_t and summed, var = sum2 * k_inv (all assigned to accum_t); the inverse
// square root read from table[var * table_size * 2**r] (the index: var's mantissa shifted
// down by index_shift, truncated, clamped to the table); res_i = diff_i * inv * scale_i +
// bias_i computed exactly and assigned to res_T.
#ifndef HEPINFER_LAYERNORM_H
#define HEPINFER_LAYERNORM_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void layernorm(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
               const typename CONFIG_T::weight_t scale[CONFIG_T::dim],
               const typename CONFIG_T::bias_t bias[CONFIG_T::dim],
               const typename CONFIG_T::table_t table[CONFIG_T::table_size],
               const typename CONFIG_T::accum_t k_inv[1]) {
    #pragma HLS PIPELINE
    typedef typename CONFIG_T::accum_t accum_t;
    enum { M = mantissa_bits<accum_t>::value, S = CONFIG_T::index_shift };
    for (int row = 0; row < CONFIG_T::seq_len; row++) {
        #pragma HLS UNROLL
        const int base = row * CONFIG_T::dim;
        accum_t sum = 0;
        for (int i = 0; i < CONFIG_T::dim; i++) {
            #pragma HLS UNROLL
            sum += (accum_t)data[base + i];
        }
        const accum_t mean = sum * k_inv[0];
        accum_t diff[CONFIG_T::dim];
        #pragma HLS ARRAY_PARTITION variable = diff complete
        accum_t sum2 = 0;
        for (int i = 0; i < CONFIG_T::dim; i++) {
            #pragma HLS UNROLL
            diff[i] = (accum_t)data[base + i] - mean;
            const accum_t square = diff[i] * diff[i];
            sum2 += square;
        }
        const accum_t var = sum2 * k_inv[0];
        const ap_int<M> m = mantissa(var);
        int index = 0;
        if (m > 0) {
            const ap_uint<M> pos = m;
            const ap_uint<(S < 0 ? M - S : M)> scaled = shift_down<S, M>(pos);
            index = scaled >= CONFIG_T::table_size ? CONFIG_T::table_size - 1 : (int)scaled.to_uint();
        }
        const typename CONFIG_T::table_t inv = table[index];
        for (int i = 0; i < CONFIG_T::dim; i++) {
            #pragma HLS UNROLL
            res[base + i] = (res_T)(diff[i] * inv * scale[i] + bias[i]);
        }
    }
}

}  // namespace hepinfer

#endif
