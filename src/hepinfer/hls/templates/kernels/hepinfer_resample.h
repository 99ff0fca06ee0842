// ZeroPadding, Cropping and nearest UpSampling: every output element copies one input element
// or is 0 (wiring, no arithmetic). Up to 3 axes, channels-last, leading axes of length 1 for
// fewer: output position o_k of axis k reads input position (o_k - pad_k) / rep_k + off_k
// when 0 <= o_k - pad_k < rep_k * cnt_k; otherwise the output element is 0.
#ifndef HEPINFER_RESAMPLE_H
#define HEPINFER_RESAMPLE_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void resample(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out]) {
    #pragma HLS PIPELINE
    const int o1 = CONFIG_T::o1, o2 = CONFIG_T::o2;
    const int in_stride[3] = {CONFIG_T::d1 * CONFIG_T::d2, CONFIG_T::d2, 1};
    const int pad[3] = {CONFIG_T::pad0, CONFIG_T::pad1, CONFIG_T::pad2};
    const int off[3] = {CONFIG_T::off0, CONFIG_T::off1, CONFIG_T::off2};
    const int rep[3] = {CONFIG_T::rep0, CONFIG_T::rep1, CONFIG_T::rep2};
    const int cnt[3] = {CONFIG_T::cnt0, CONFIG_T::cnt1, CONFIG_T::cnt2};
    for (int i = 0; i < CONFIG_T::n_out; i++) {
        #pragma HLS UNROLL
        const int idx[3] = {i / (o1 * o2), (i / o2) % o1, i % o2};
        int src = 0;
        bool inside = true;
        for (int k = 0; k < 3; k++) {
            const int t = idx[k] - pad[k];
            if (t < 0 || t >= rep[k] * cnt[k]) {
                inside = false;
            } else {
                src += (t / rep[k] + off[k]) * in_stride[k];
            }
        }
        res[i] = inside ? (res_T)data[src] : (res_T)0;
    }
}

}  // namespace hepinfer

#endif
