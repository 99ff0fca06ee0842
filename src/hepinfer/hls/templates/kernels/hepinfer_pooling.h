// hepinfer kernel library: max / average pooling (1D as 2D of height 1; global pooling is a
// window over the whole input), channels last.
//
// Max: padding holds data_T's minimum; the maximum is assigned to accum_t (when the layer has
// one) and then to res_T. Average: values assigned to accum_t, summed exactly and assigned to
// accum_t once (in wide_t: accum_t with the bits the window's count of terms needs), divided
// by the count (real positions, or the whole window with count_pad) with truncation toward
// zero at accum_t's fractional bits, in integers, assigned to res_T.
#ifndef HEPINFER_POOLING_H
#define HEPINFER_POOLING_H

#include "hepinfer_common.h"

namespace hepinfer {

enum pool_op { pool_max, pool_average };

// The output of one window: its maximum `best`, or the exact sum `total` of its `count` values
// (inside the input) divided by the count.
template <class data_T, class res_T, typename CONFIG_T>
res_T pool_result(const data_T &best, const typename CONFIG_T::wide_t &total, int count) {
    #pragma HLS INLINE
    typedef typename CONFIG_T::accum_t accum_t;
    if (CONFIG_T::op == pool_max) return CONFIG_T::has_accum ? (res_T)(accum_t)best : (res_T)best;
    const int full = CONFIG_T::pool_height * CONFIG_T::pool_width;
    const int n = CONFIG_T::count_pad ? full : count;
    accum_t sum = (accum_t)total;
    // the mean truncated toward zero at accum_t's fractional bits, on the mantissa's magnitude:
    // a division by the constant window size (a smaller divider only where padding cuts the
    // window short)
    enum { M = mantissa_bits<accum_t>::value };
    ap_uint<M> mag = magnitude<M>(mantissa(sum));
    ap_uint<M> q;
    if (n == full) {
        q = mag / (ap_uint<CONFIG_T::count_bits>)full;
    } else {
        q = mag / (ap_uint<CONFIG_T::count_bits>)n;
    }
    ap_int<M + 1> signed_q;
    if (sum < 0) {
        signed_q = -q;
    } else {
        signed_q = q;
    }
    accum_t mean = from_mantissa<accum_t>(signed_q);
    return (res_T)mean;
}

// The output of the window at (oh, ow) of one channel, from its taps: positions outside the
// input (padding) are skipped. Shared by pool_2d_cl and the io_stream pool_2d_cl_stream.
template <class data_T, class res_T, typename CONFIG_T>
res_T pool_window(const data_T taps[CONFIG_T::pool_height][CONFIG_T::pool_width], int oh, int ow) {
    #pragma HLS INLINE
    typedef typename CONFIG_T::accum_t accum_t;
    data_T best = lowest<data_T>();
    typename CONFIG_T::wide_t total = 0;
    int count = 0;
    for (int kh = 0; kh < CONFIG_T::pool_height; kh++) {
        for (int kw = 0; kw < CONFIG_T::pool_width; kw++) {
            const int ih = oh * CONFIG_T::stride_height - CONFIG_T::pad_top + kh;
            const int iw = ow * CONFIG_T::stride_width - CONFIG_T::pad_left + kw;
            if (ih < 0 || ih >= CONFIG_T::in_height || iw < 0 || iw >= CONFIG_T::in_width) continue;
            const data_T v = taps[kh][kw];
            if (v > best) best = v;
            total += (accum_t)v;
            count++;
        }
    }
    return pool_result<data_T, res_T, CONFIG_T>(best, total, count);
}

template <class data_T, class res_T, typename CONFIG_T>
void pool_2d_cl(const data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
                res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_chan]) {
Rows:
    for (int oh = 0; oh < CONFIG_T::out_height; oh++) {
    Columns:
        for (int ow = 0; ow < CONFIG_T::out_width; ow++) {
            #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
        Channels:
            for (int c = 0; c < CONFIG_T::n_chan; c++) {
                data_T taps[CONFIG_T::pool_height][CONFIG_T::pool_width];
                #pragma HLS ARRAY_PARTITION variable = taps complete dim = 0
                for (int kh = 0; kh < CONFIG_T::pool_height; kh++) {
                    for (int kw = 0; kw < CONFIG_T::pool_width; kw++) {
                        const int ih = oh * CONFIG_T::stride_height - CONFIG_T::pad_top + kh;
                        const int iw = ow * CONFIG_T::stride_width - CONFIG_T::pad_left + kw;
                        const bool inside = ih >= 0 && ih < CONFIG_T::in_height && iw >= 0 && iw < CONFIG_T::in_width;
                        taps[kh][kw] = inside ? data[(ih * CONFIG_T::in_width + iw) * CONFIG_T::n_chan + c] : (data_T)0;
                    }
                }
                res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_chan + c] =
                    pool_window<data_T, res_T, CONFIG_T>(taps, oh, ow);
            }
        }
    }
}

}  // namespace hepinfer

#endif
