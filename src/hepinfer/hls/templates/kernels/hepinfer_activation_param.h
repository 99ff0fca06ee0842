// hepinfer kernel library: SELU, ThresholdedReLU and PReLU (hls4ml's nnet::selu,
// thresholded_relu, prelu). Arithmetic is exact until the cast to res_T.
#ifndef HEPINFER_ACTIVATION_PARAM_H
#define HEPINFER_ACTIVATION_PARAM_H

#include "hepinfer_common.h"

namespace hepinfer {

// res = data >= 0 ? lambda * data : table[int(data * size / -8)], lambda in ap_ufixed<16,1>
// (hls4ml's 1.0507009873554805 as that type holds it: mantissa 34429). The index is the
// mantissa times size, negated, shifted down by log2(8) + data's fractional bits.
template <class data_T, class res_T, typename CONFIG_T>
void selu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
          const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    typedef ap_ufixed<16, 1> selu_const_t;
    enum { M = mantissa_bits<data_T>::value, W = M + 18, FRAC = data_T::width - data_T::iwidth };
    const selu_const_t lambda = from_mantissa<selu_const_t>(ap_int<18>(34429));
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        if (data[i] >= 0) {
            res[i] = (res_T)(lambda * data[i]);
        } else {
            ap_int<W> num = -((ap_int<W>)mantissa(data[i])) * (ap_uint<17>)CONFIG_T::table_size;
            ap_uint<W> mag = magnitude<W>(num);
            const auto q = shift_down<3 + FRAC, W>(mag);
            int idx = q > CONFIG_T::table_size - 1 ? CONFIG_T::table_size - 1 : q.to_int();
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
