// hepinfer kernel library: layers of ONNX models without a Keras twin in hls4ml's library
// (Clip), QONNX's BipolarQuant and MultiThreshold, and HGQ2's per-element quantisers. Values are only compared, selected and
// copied; the one cast is the assignment to res_T. (ONNX Pad and Resize use the resample
// kernels of hepinfer_resample.h, as Keras' ZeroPadding and UpSampling.)
#ifndef HEPINFER_ONNX_H
#define HEPINFER_ONNX_H

#include "hepinfer_common.h"

namespace hepinfer {

// res = min(max(data, bounds[0]), bounds[1]) on the closed sides (has_min, has_max); the
// comparisons are exact between data_T and weight_t.
template <class data_T, class res_T, typename CONFIG_T>
void clip(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
          const typename CONFIG_T::weight_t bounds[2]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        if (CONFIG_T::has_min && data[i] < bounds[0]) {
            res[i] = (res_T)bounds[0];
        } else if (CONFIG_T::has_max && data[i] > bounds[1]) {
            res[i] = (res_T)bounds[1];
        } else {
            res[i] = (res_T)data[i];
        }
    }
}

// res = data >= 0 ? values[0] : values[1] (QONNX BipolarQuant: +scale / -scale, held in
// weight_t, which is res_T).
template <class data_T, class res_T, typename CONFIG_T>
void bipolar(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
             const typename CONFIG_T::weight_t values[2]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = data[i] >= 0 ? (res_T)values[0] : (res_T)values[1];
    }
}

// res = sb[0] * #{t : data >= thr[c][t]} + sb[1] per channel c (the last axis): QONNX
// MultiThreshold; the count times the scale plus the bias is exact in bias_t's arithmetic.
template <class data_T, class res_T, typename CONFIG_T>
void multithreshold(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                    const typename CONFIG_T::weight_t thr[CONFIG_T::n_chan * CONFIG_T::n_steps],
                    const typename CONFIG_T::bias_t sb[2]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        const int c = i % CONFIG_T::n_chan;
        int count = 0;
        for (int t = 0; t < CONFIG_T::n_steps; t++) {
            #pragma HLS UNROLL
            if (data[i] >= thr[c * CONFIG_T::n_steps + t]) {
                count++;
            }
        }
        const ap_int<16> k = count;
        res[i] = (res_T)(sb[0] * k + sb[1]);
    }
}

// HGQ2's per-element quantisers (hls4ml's FixedPointQuantizer): res[i] = data[i] cast to
// element i's own type, ap_(u)fixed<W_i, I_i> with rounding RND (CONFIG_T::rnd) or TRN and
// overflow saturating (CONFIG_T::sat, SAT or SAT_SYM) or wrapping, held exactly in res_T.
// params[4 i ..]: the bits dropped from the input's fraction (< 0: appended), the element's
// width W_i (0: pruned, res 0), its lowest and highest mantissa (the saturation bounds; the
// wrap's range). Integer arithmetic on mantissas of at most 31 bits (the HLS hook checks).
template <class data_T, class res_T, typename CONFIG_T>
void fixed_quantizer(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                     const typename CONFIG_T::weight_t params[4 * CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    enum { FIN = data_T::width - data_T::iwidth, FOUT = res_T::width - res_T::iwidth };
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        long long m = mantissa(data[i]).to_int();
        int drop = params[4 * i].to_int();
        int width = params[4 * i + 1].to_int();
        long long lo = params[4 * i + 2].to_int();
        long long hi = params[4 * i + 3].to_int();
        long long q;
        if (drop > 0) {
            q = CONFIG_T::rnd ? (m + (1LL << (drop - 1))) >> drop : m >> drop;
        } else {
            q = m * (1LL << -drop);
        }
        if (width == 0) {
            q = 0;
        } else if (CONFIG_T::sat) {
            q = q < lo ? lo : (q > hi ? hi : q);
        } else {
            long long span = 1LL << width;
            q = ((q - lo) % span + span) % span + lo;
        }
        ap_int<mantissa_bits<res_T>::value> out = q * (1LL << (FOUT - FIN + drop));
        res[i] = from_mantissa<res_T>(out);
    }
}

}  // namespace hepinfer

#endif
