// EinsumDense (hls4ml's nnet_einsum_dense.h): the input gathered into inplace x free_data rows
// of n_in values (hls4ml's input transpose), each row through Dense (hepinfer_dense.h, the
// group's (n_in, n_out) kernel and the row's own n_out biases), the rows' results scattered
// to the output's order (hls4ml's output transpose). Copies keep their types.
#ifndef HEPINFER_EINSUM_DENSE_H
#define HEPINFER_EINSUM_DENSE_H

#include "hepinfer_common.h"
#include "hepinfer_dense.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void einsum_dense(const data_T data[CONFIG_T::n_total_in], res_T res[CONFIG_T::n_total_out],
                  const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                  const typename CONFIG_T::bias_t biases[CONFIG_T::n_total_out],
                  const typename CONFIG_T::index_t gather[CONFIG_T::n_total_in],
                  const typename CONFIG_T::index_t scatter[CONFIG_T::n_total_out]) {
    #pragma HLS PIPELINE
    data_T rows[CONFIG_T::n_total_in];
    #pragma HLS ARRAY_PARTITION variable = rows complete
    res_T outs[CONFIG_T::n_total_out];
    #pragma HLS ARRAY_PARTITION variable = outs complete
    for (int k = 0; k < CONFIG_T::n_total_in; k++) {
        #pragma HLS UNROLL
        rows[k] = data[gather[k].to_int()];
    }
    for (int i = 0; i < CONFIG_T::inplace; i++) {
        #pragma HLS UNROLL
        for (int l0 = 0; l0 < CONFIG_T::free_data; l0++) {
            #pragma HLS UNROLL
            const int row = i * CONFIG_T::free_data + l0;
            dense<data_T, res_T, CONFIG_T>(rows + row * CONFIG_T::n_in, outs + row * CONFIG_T::n_out,
                                           weights + i * CONFIG_T::n_in * CONFIG_T::n_out,
                                           biases + row * CONFIG_T::n_out);
        }
    }
    for (int k = 0; k < CONFIG_T::n_total_out; k++) {
        #pragma HLS UNROLL
        res[k] = outs[scatter[k].to_int()];
    }
}

}  // namespace hepinfer

#endif
