// Embedding (hls4ml's nnet_embed.h): input value j selects row floor(data[j]) (clipped to
// [0, vocab - 1]) of the table; each value is cast to res_T.
#ifndef HEPINFER_EMBEDDING_H
#define HEPINFER_EMBEDDING_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void embedding(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
               const typename CONFIG_T::weight_t table[CONFIG_T::vocab * CONFIG_T::dim]) {
    #pragma HLS PIPELINE
    enum { M = mantissa_bits<data_T>::value };
    for (int j = 0; j < CONFIG_T::n_in; j++) {
        #pragma HLS UNROLL
        const ap_int<M> m = mantissa(data[j]);
        int row = 0;
        if (m > 0) {
            const ap_int<M> whole = m >> CONFIG_T::in_frac;
            row = whole >= CONFIG_T::vocab ? CONFIG_T::vocab - 1 : whole.to_int();
        }
        for (int i = 0; i < CONFIG_T::dim; i++) {
            #pragma HLS UNROLL
            res[j * CONFIG_T::dim + i] = (res_T)table[row * CONFIG_T::dim + i];
        }
    }
}

}  // namespace hepinfer

#endif
