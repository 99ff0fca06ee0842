// hepinfer kernel library: element-wise layers with weights (batch normalisation, LeakyReLU,
// HardSigmoid) and the table-based ELU. Arithmetic is exact until the cast to res_T.
#ifndef HEPINFER_ELEMENTWISE_H
#define HEPINFER_ELEMENTWISE_H

#include "hepinfer_common.h"
#include "hepinfer_fast.h"

namespace hepinfer {

// res = data * scale + bias, per channel (the last axis, n_chan values).
template <class data_T, class res_T, typename CONFIG_T>
void normalize(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
               const typename CONFIG_T::weight_t scale[CONFIG_T::n_chan],
               const typename CONFIG_T::bias_t bias[CONFIG_T::n_chan]) {
    #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
#if !defined(__SYNTHESIS__) && !defined(HEPINFER_CSIM_NO_FAST_PATH)
    if (fast::normalize<data_T, res_T, CONFIG_T>(data, res, scale, bias)) return;  // C simulation
#endif
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        const int c = i % CONFIG_T::n_chan;
        res[i] = (res_T)(data[i] * scale[c] + bias[c]);
    }
}

// res = data > 0 ? data : alpha * data (alpha in weight_t).
template <class data_T, class res_T, typename CONFIG_T>
void leaky_relu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                const typename CONFIG_T::weight_t alpha[1]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        if (data[i] > 0) {
            res[i] = (res_T)data[i];
        } else {
            res[i] = (res_T)(alpha[0] * data[i]);
        }
    }
}

// res = clip(data * slope + shift, 0, 1) (slope and shift in weight_t).
template <class data_T, class res_T, typename CONFIG_T>
void hard_sigmoid(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                  const typename CONFIG_T::weight_t params[2]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        if (data[i] * params[0] + params[1] < 0) {
            res[i] = (res_T)0;
        } else if (data[i] * params[0] + params[1] > 1) {
            res[i] = (res_T)1;
        } else {
            res[i] = (res_T)(data[i] * params[0] + params[1]);
        }
    }
}

// res = data >= 0 ? data : alpha * table[index(data)], table[i] = exp(-8 i / size) - 1.
template <class data_T, class res_T, typename CONFIG_T>
void elu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
         const typename CONFIG_T::weight_t alpha[1],
         const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        if (data[i] >= 0) {
            res[i] = (res_T)data[i];
        } else {
            // int(x * table_size / -8) clipped to the table: -x's mantissa shifted down by
            // index_shift = 3 + x's fractional bits - log2(table_size)
            enum { M = mantissa_bits<data_T>::value };
            ap_uint<M> mag = magnitude<M>(mantissa(data[i]));
            const auto q = shift_down<CONFIG_T::index_shift, M>(mag);
            const int idx = q >= CONFIG_T::table_size ? CONFIG_T::table_size - 1 : q.to_int();
            res[i] = (res_T)(table[idx] * alpha[0]);
        }
    }
}

}  // namespace hepinfer

#endif
