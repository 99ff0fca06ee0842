// hepinfer kernel library: element-wise activations (ReLU, linear, table-based sigmoid/tanh).
#ifndef HEPINFER_ACTIVATION_H
#define HEPINFER_ACTIVATION_H

#include "hepinfer_common.h"
#include "hepinfer_fast.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void linear(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
#if !defined(__SYNTHESIS__) && !defined(HEPINFER_CSIM_NO_FAST_PATH)
    if (fast::linear<data_T, res_T, CONFIG_T>(data, res)) return;  // C simulation
#endif
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = (res_T)data[i];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void relu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
#if !defined(__SYNTHESIS__) && !defined(HEPINFER_CSIM_NO_FAST_PATH)
    if (fast::relu<data_T, res_T, CONFIG_T>(data, res)) return;  // C simulation
#endif
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
// (truncation toward zero), clipped to the table. The scale table_size / span is the exact
// dyadic scale_num * 2**-scale_shift: the product is x's mantissa times scale_num (an integer
// of scale_bits bits), shifted down by index_shift = scale_shift + x's fractional bits.
template <typename CONFIG_T, class data_T> inline int lut_index(const data_T &x) {
    #pragma HLS INLINE
    enum { M = mantissa_bits<data_T>::value };
    const int half = CONFIG_T::table_size / 2;
    ap_int<M + CONFIG_T::scale_bits> num = mantissa(x) * (ap_uint<CONFIG_T::scale_bits>)CONFIG_T::scale_num;
    ap_uint<M + CONFIG_T::scale_bits> mag = magnitude<M + CONFIG_T::scale_bits>(num);
    const auto q = shift_down<CONFIG_T::index_shift, M + CONFIG_T::scale_bits>(mag);
    int idx;
    if (num < 0) {
        idx = q > half ? 0 : half - q.to_int();
    } else {
        idx = q >= half ? CONFIG_T::table_size - 1 : half + q.to_int();
    }
    return idx;
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

// A table of a function on every input value (hls4ml's `unary_lut`): the input's mantissa,
// shifted down by index_shift (to the table's fractional bits), indexes the table by its low
// log2(table_size) bits (two's complement: non-negative values first).
template <class data_T, class res_T, typename CONFIG_T>
void unary_lut(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
               const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        const long long m = mantissa(data[i]).to_int64();
        const long long code = CONFIG_T::index_shift >= 0 ? (m >> CONFIG_T::index_shift)
                                                          : (m << -CONFIG_T::index_shift);
        res[i] = (res_T)table[code & (CONFIG_T::table_size - 1)];
    }
}

}  // namespace hepinfer

#endif
