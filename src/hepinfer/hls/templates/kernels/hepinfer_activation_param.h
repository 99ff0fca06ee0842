// hepinfer kernel library: SELU, ThresholdedReLU and PReLU (hls4ml's nnet::selu,
// thresholded_relu, prelu). Arithmetic is exact until the cast to res_T.
#ifndef HEPINFER_ACTIVATION_PARAM_H
#define HEPINFER_ACTIVATION_PARAM_H

#include "hepinfer_common.h"

namespace hepinfer {

// res = data >= 0 ? lambda * data : table[int(data * size / -8)], lambda in ap_ufixed<16,1>.
template <class data_T, class res_T, typename CONFIG_T>
void selu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
          const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    typedef ap_ufixed<16, 1> selu_const_t;
    const selu_const_t lambda = 1.0507009873554805;
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        if (data[i] >= 0) {
            res[i] = (res_T)(lambda * data[i]);
        } else {
            long long num = -mantissa(data[i], CONFIG_T::data_frac) * CONFIG_T::table_size;
            long long den = CONFIG_T::data_frac >= 0 ? (8LL << CONFIG_T::data_frac) : 8LL;
            long long mag = (num < 0 ? -num : num) / den;
            long long idx = num < 0 ? -mag : mag;
            if (idx < 0) idx = 0;
            if (idx > CONFIG_T::table_size - 1) idx = CONFIG_T::table_size - 1;
            res[i] = (res_T)table[idx];
        }
    }
}

// res = data > theta ? data : 0 (theta in weight_t).
template <class data_T, class res_T, typename CONFIG_T>
void thresholded_relu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                      const typename CONFIG_T::weight_t theta[1]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        if (data[i] > theta[0]) {
            res[i] = (res_T)data[i];
        } else {
            res[i] = (res_T)0;
        }
    }
}

// res = data > 0 ? data : alpha[i] * data (one alpha per element, in weight_t).
template <class data_T, class res_T, typename CONFIG_T>
void prelu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
           const typename CONFIG_T::weight_t alpha[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        if (data[i] > 0) {
            res[i] = (res_T)data[i];
        } else {
            res[i] = (res_T)(alpha[i] * data[i]);
        }
    }
}

}  // namespace hepinfer

#endif
