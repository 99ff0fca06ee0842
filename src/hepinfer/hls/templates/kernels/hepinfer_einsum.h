// Einsum of two computed tensors (hls4ml's nnet_einsum.h): both operands gathered into
// (I, L0|L1, C) order (hls4ml's input transposes), each of the I * L0 * L1 outputs the sum of
// its C products added one by one in accum_t from 0 (accum += a * b), assigned to res_T, the
// results scattered to the output's order (hls4ml's output transpose). Copies keep their types.
#ifndef HEPINFER_EINSUM_H
#define HEPINFER_EINSUM_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class data0_T, class data1_T, class res_T, typename CONFIG_T>
void einsum(const data0_T data0[CONFIG_T::n_in], const data1_T data1[CONFIG_T::n_in1], res_T res[CONFIG_T::n_out],
            const typename CONFIG_T::index_t gather0[CONFIG_T::n_in],
            const typename CONFIG_T::index_t gather1[CONFIG_T::n_in1],
            const typename CONFIG_T::index_t scatter[CONFIG_T::n_out]) {
    #pragma HLS PIPELINE
    data0_T a[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable = a complete
    data1_T b[CONFIG_T::n_in1];
    #pragma HLS ARRAY_PARTITION variable = b complete
    res_T outs[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable = outs complete
    for (int k = 0; k < CONFIG_T::n_in; k++) {
        #pragma HLS UNROLL
        a[k] = data0[gather0[k].to_int()];
    }
    for (int k = 0; k < CONFIG_T::n_in1; k++) {
        #pragma HLS UNROLL
        b[k] = data1[gather1[k].to_int()];
    }
    const int L0 = CONFIG_T::n_free0, L1 = CONFIG_T::n_free1, C = CONFIG_T::n_contract;
    for (int i = 0; i < CONFIG_T::n_inplace; i++) {
        #pragma HLS UNROLL
        for (int l0 = 0; l0 < L0; l0++) {
            #pragma HLS UNROLL
            for (int l1 = 0; l1 < L1; l1++) {
                #pragma HLS UNROLL
                typename CONFIG_T::accum_t acc = 0;
                for (int c = 0; c < C; c++) {
                    #pragma HLS UNROLL
                    acc += a[(i * L0 + l0) * C + c] * b[(i * L1 + l1) * C + c];
                }
                outs[(i * L0 + l0) * L1 + l1] = (res_T)acc;
            }
        }
    }
    for (int k = 0; k < CONFIG_T::n_out; k++) {
        #pragma HLS UNROLL
        res[k] = outs[scatter[k].to_int()];
    }
}

}  // namespace hepinfer

#endif
