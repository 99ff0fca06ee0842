// hepinfer kernel library: element-wise activations (ReLU, linear, table-based sigmoid/tanh).
#ifndef HEPINFER_ACTIVATION_H
#define HEPINFER_ACTIVATION_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void linear(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = (res_T)data[i];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void relu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        if (data[i] > 0) {
            res[i] = (res_T)data[i];
        } else {
            res[i] = (res_T)0;
        }
    }
}

// Table index of hls4ml's activation tables: int(x * table_size / span) + table_size / 2
// (truncation toward zero), clipped to the table. With `exact_scale` the product is formed
// in integers: x's mantissa times scale256 = table_size * 256 / span, divided by 256 * 2**frac.
template <typename CONFIG_T, class data_T> inline int lut_index(const data_T &x) {
    long long q;
    if (CONFIG_T::exact_scale) {
        long long num = mantissa(x, CONFIG_T::data_frac) * CONFIG_T::scale256;
        long long den = CONFIG_T::data_frac >= 0 ? (256LL << CONFIG_T::data_frac) : (256LL >> -CONFIG_T::data_frac);
        long long mag = (num < 0 ? -num : num) / den;
        q = num < 0 ? -mag : mag;
    } else {
        q = (long long)std::trunc(x.to_double() * CONFIG_T::scale);
    }
    long long idx = q + CONFIG_T::table_size / 2;
    if (idx < 0) idx = 0;
    if (idx > CONFIG_T::table_size - 1) idx = CONFIG_T::table_size - 1;
    return (int)idx;
}

// Table-based activation (sigmoid, tanh): res = (res_T) table[index(x)].
template <class data_T, class res_T, typename CONFIG_T>
void lut_activation(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                    const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = (res_T)table[lut_index<CONFIG_T>(data[i])];
    }
}

}  // namespace hepinfer

#endif
