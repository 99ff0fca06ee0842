// hepinfer kernel library: Dense (fully connected) layers.
//
// Arithmetic (bit for bit what the emulator computes): every product data[i] * w[i][j] is
// formed at full precision and assigned to accum_t, the accumulator starts from
// (accum_t) bias[j], products are added in increasing i (each sum assigned to accum_t), and
// the result is assigned to res_T. Weights are row-major (n_in, n_out).
#ifndef HEPINFER_DENSE_H
#define HEPINFER_DENSE_H

#include "hepinfer_common.h"

namespace hepinfer {

// Latency strategy: fully unrolled, pipelined at II = reuse_factor.
template <class data_T, class res_T, typename CONFIG_T>
void dense_latency(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                   const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                   const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
    #pragma HLS ARRAY_PARTITION variable = weights complete
    #pragma HLS ARRAY_PARTITION variable = biases complete
    #pragma HLS ALLOCATION operation instances = mul limit = CONFIG_T::multiplier_limit
    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable = acc complete
Reset:
    for (int j = 0; j < CONFIG_T::n_out; j++) {
        #pragma HLS UNROLL
        acc[j] = (typename CONFIG_T::accum_t)biases[j];
    }
Accumulate:
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        for (int j = 0; j < CONFIG_T::n_out; j++) {
            #pragma HLS UNROLL
            typename CONFIG_T::accum_t product = data[i] * weights[i * CONFIG_T::n_out + j];
            acc[j] += product;
        }
    }
Result:
    for (int j = 0; j < CONFIG_T::n_out; j++) {
        #pragma HLS UNROLL
        res[j] = (res_T)acc[j];
    }
}

// Resource strategy: reuse_factor iterations of a pipelined loop (II = 1), each doing
// n_in / reuse_factor rows of products on shared multipliers; weights in block RAM.
template <class data_T, class res_T, typename CONFIG_T>
void dense_resource(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    const int rows = (CONFIG_T::n_in + CONFIG_T::reuse_factor - 1) / CONFIG_T::reuse_factor;
    #pragma HLS ARRAY_RESHAPE variable = weights block factor = CONFIG_T::reuse_factor
    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable = acc complete
Reset:
    for (int j = 0; j < CONFIG_T::n_out; j++) {
        #pragma HLS UNROLL
        acc[j] = (typename CONFIG_T::accum_t)biases[j];
    }
Reuse:
    for (int r = 0; r < CONFIG_T::reuse_factor; r++) {
        #pragma HLS PIPELINE II = 1
    Rows:
        for (int k = 0; k < rows; k++) {
            const int i = r * rows + k;
            if (i < CONFIG_T::n_in) {
                for (int j = 0; j < CONFIG_T::n_out; j++) {
                    typename CONFIG_T::accum_t product = data[i] * weights[i * CONFIG_T::n_out + j];
                    acc[j] += product;
                }
            }
        }
    }
Result:
    for (int j = 0; j < CONFIG_T::n_out; j++) {
        #pragma HLS UNROLL
        res[j] = (res_T)acc[j];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void dense(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
           const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
           const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    #pragma HLS INLINE
    if (CONFIG_T::strategy == latency) {
        dense_latency<data_T, res_T, CONFIG_T>(data, res, weights, biases);
    } else {
        dense_resource<data_T, res_T, CONFIG_T>(data, res, weights, biases);
    }
}

}  // namespace hepinfer

#endif
