// hepinfer kernel library: Dense (fully connected) layers.
//
// Arithmetic (bit for bit what the emulator computes): every product data[i] * w[i][j] is
// formed at full precision and assigned to accum_t, the accumulator starts from
// (accum_t) bias[j], products are added in increasing i (each sum assigned to accum_t), and
// the result is assigned to res_T.
//
// Weights: Latency reads the row-major (n_in, n_out) kernel. Resource reads a ROM of n_iter
// words of multiplier_limit weights, word r holding every weight iteration r multiplies
// (hepinfer.ops.reuse lays it out): ARRAY_RESHAPE cyclic factor = multiplier_limit makes each
// word one address, so an iteration is one ROM read, as in hls4ml's dense_resource.
#ifndef HEPINFER_DENSE_H
#define HEPINFER_DENSE_H

#include "hepinfer_common.h"
#include "hepinfer_fast.h"

namespace hepinfer {

// Where a Resource layer's weight ROM goes: constants (one iteration), LUTRAM or block RAM.
enum rom { rom_constant, rom_lutram, rom_bram };

// Latency strategy: fully unrolled, pipelined at II = reuse_factor.
template <class data_T, class res_T, typename CONFIG_T>
void dense_latency(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                   const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
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

// Resource strategy, reuse_factor <= n_in (hls4ml's rf_leq_nin): n_iter iterations of a loop
// pipelined at II = 1; iteration r multiplies the inputs r * rows .. r * rows + rows - 1 by
// their weights (word r: rows x n_out values, zeros past n_in), multiplier_limit multipliers.
template <class data_T, class res_T, typename CONFIG_T>
void dense_resource_rf_leq_nin(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                               const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                               const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    #pragma HLS ARRAY_RESHAPE variable = weights cyclic factor = CONFIG_T::multiplier_limit
    #pragma HLS ARRAY_PARTITION variable = biases complete
    #pragma HLS ALLOCATION operation instances = mul limit = CONFIG_T::multiplier_limit
    if (CONFIG_T::weight_rom == rom_bram) {
        #pragma HLS BIND_STORAGE variable = weights type = rom_np impl = bram
    } else if (CONFIG_T::weight_rom == rom_lutram) {
        #pragma HLS BIND_STORAGE variable = weights type = rom_np impl = lutram
    }
    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable = acc complete
Reset:
    for (int j = 0; j < CONFIG_T::n_out; j++) {
        #pragma HLS UNROLL
        acc[j] = (typename CONFIG_T::accum_t)biases[j];
    }
Reuse:
    for (int r = 0; r < CONFIG_T::n_iter; r++) {
        #pragma HLS PIPELINE II = 1 rewind
    Rows:
        for (int k = 0; k < CONFIG_T::rows; k++) {
            #pragma HLS UNROLL
            const int i = r * CONFIG_T::rows + k;
        Outputs:
            for (int j = 0; j < CONFIG_T::n_out; j++) {
                #pragma HLS UNROLL
                if (i < CONFIG_T::n_in) {
                    typename CONFIG_T::accum_t product =
                        data[i] * weights[r * CONFIG_T::multiplier_limit + k * CONFIG_T::n_out + j];
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

// Resource strategy, reuse_factor > n_in (hls4ml's rf_gt_nin): the outputs in groups of
// `group` (multiplier_limit) lanes; iteration g * n_in + i multiplies input i by the weights
// of group g (word g * n_in + i), so every output still sums its products in increasing i
// and no multiplier idles; n_iter = groups * n_in <= reuse_factor iterations at II = 1.
template <class data_T, class res_T, typename CONFIG_T>
void dense_resource_rf_gt_nin(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                              const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                              const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    #pragma HLS ARRAY_RESHAPE variable = weights cyclic factor = CONFIG_T::multiplier_limit
    #pragma HLS ARRAY_PARTITION variable = biases complete
    #pragma HLS ALLOCATION operation instances = mul limit = CONFIG_T::multiplier_limit
    if (CONFIG_T::weight_rom == rom_bram) {
        #pragma HLS BIND_STORAGE variable = weights type = rom_np impl = bram
    } else if (CONFIG_T::weight_rom == rom_lutram) {
        #pragma HLS BIND_STORAGE variable = weights type = rom_np impl = lutram
    }
    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable = acc complete
Reset:
    for (int j = 0; j < CONFIG_T::n_out; j++) {
        #pragma HLS UNROLL
        acc[j] = (typename CONFIG_T::accum_t)biases[j];
    }
    int i = 0;  // input of this iteration
    int g = 0;  // output group of this iteration
Reuse:
    for (int r = 0; r < CONFIG_T::n_iter; r++) {
        #pragma HLS PIPELINE II = 1 rewind
    Lanes:
        for (int l = 0; l < CONFIG_T::group; l++) {
            #pragma HLS UNROLL
            const int j = g * CONFIG_T::group + l;
            if (j < CONFIG_T::n_out) {
                typename CONFIG_T::accum_t product = data[i] * weights[r * CONFIG_T::multiplier_limit + l];
                acc[j] += product;
            }
        }
        if (i == CONFIG_T::n_in - 1) {
            i = 0;
            g++;
        } else {
            i++;
        }
    }
Result:
    for (int j = 0; j < CONFIG_T::n_out; j++) {
        #pragma HLS UNROLL
        res[j] = (res_T)acc[j];
    }
}

// The strategy picks the kernel at compile time (only the chosen one is instantiated: a
// Latency layer's config has no Resource schedule constants).
template <strategy S> struct dense_strategy {
    template <class data_T, class res_T, typename CONFIG_T>
    static void run(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
        #pragma HLS INLINE
        dense_latency<data_T, res_T, CONFIG_T>(data, res, weights, biases);
    }
};

template <> struct dense_strategy<resource> {
    template <class data_T, class res_T, typename CONFIG_T>
    static void run(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
        #pragma HLS INLINE
        if (CONFIG_T::reuse_factor <= CONFIG_T::n_in) {
            dense_resource_rf_leq_nin<data_T, res_T, CONFIG_T>(data, res, weights, biases);
        } else {
            dense_resource_rf_gt_nin<data_T, res_T, CONFIG_T>(data, res, weights, biases);
        }
    }
};

template <class data_T, class res_T, typename CONFIG_T>
void dense(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
           const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
           const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    #pragma HLS INLINE
#if !defined(__SYNTHESIS__) && !defined(HEPINFER_CSIM_NO_FAST_PATH)
    if (fast::dense<data_T, res_T, CONFIG_T>(data, res, weights, biases)) return;  // C simulation
#endif
    dense_strategy<CONFIG_T::strategy>::template run<data_T, res_T, CONFIG_T>(data, res, weights, biases);
}

}  // namespace hepinfer

#endif
