// Dot (hls4ml's dot1d): each product assigned to accum_t, the products added in accum_t from
// 0, the sum assigned to res_T.
#ifndef HEPINFER_DOT_H
#define HEPINFER_DOT_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void dot(const a_T a[CONFIG_T::n_in], const b_T b[CONFIG_T::n_in], res_T res[CONFIG_T::n_out]) {
    #pragma HLS PIPELINE
    typename CONFIG_T::accum_t acc = 0;
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        const typename CONFIG_T::accum_t mult = a[i] * b[i];
        acc += mult;
    }
    res[0] = (res_T)acc;
}

}  // namespace hepinfer

#endif
