// hepinfer kernel library: Conv1D / Conv2D, channels last (Conv1D is a Conv2D of height 1).
//
// For every output pixel the window (kernel rows, kernel columns, channels; zero outside the
// input) is gathered and the Dense kernel runs on it with the (kh * kw * n_chan, n_filt)
// weights, so Latency / Resource strategies and the arithmetic are those of Dense. The
// schedule (n_partitions, n_pixels) is hls4ml's ParallelizationFactor; it never changes the
// arithmetic.
#ifndef HEPINFER_CONV_H
#define HEPINFER_CONV_H

#include "hepinfer_common.h"
#include "hepinfer_dense.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void conv_2d_cl(const data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
                res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_filt],
                const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
#if !defined(__SYNTHESIS__) && !defined(HEPINFER_CSIM_NO_FAST_PATH)
    if (fast::conv_2d_cl<data_T, res_T, CONFIG_T>(data, res, weights, biases)) return;  // C simulation
#endif
// hls4ml's io_parallel schedule (conv_2d_latency_cl): the output positions (row-major) in
// n_partitions partitions of n_pixels (= ParallelizationFactor) positions; the partition
// loop is pipelined at II = reuse_factor, the positions of a partition computed at once.
Partitions:
    for (int part = 0; part < CONFIG_T::n_partitions; part++) {
        #pragma HLS PIPELINE II = CONFIG_T::reuse_factor rewind
    Pixels:
        for (int px = 0; px < CONFIG_T::n_pixels; px++) {
            #pragma HLS UNROLL
            const int p = part * CONFIG_T::n_pixels + px;
            const int oh = p / CONFIG_T::out_width;
            const int ow = p % CONFIG_T::out_width;
            data_T window[CONFIG_T::n_in];
            #pragma HLS ARRAY_PARTITION variable = window complete
            res_T pixel[CONFIG_T::n_out];
            #pragma HLS ARRAY_PARTITION variable = pixel complete
        Window:
            for (int kh = 0; kh < CONFIG_T::filt_height; kh++) {
                for (int kw = 0; kw < CONFIG_T::filt_width; kw++) {
                    const int ih = oh * CONFIG_T::stride_height - CONFIG_T::pad_top + kh * CONFIG_T::dilation_height;
                    const int iw = ow * CONFIG_T::stride_width - CONFIG_T::pad_left + kw * CONFIG_T::dilation_width;
                    const bool inside = ih >= 0 && ih < CONFIG_T::in_height && iw >= 0 && iw < CONFIG_T::in_width;
                    for (int c = 0; c < CONFIG_T::n_chan; c++) {
                        const int k = (kh * CONFIG_T::filt_width + kw) * CONFIG_T::n_chan + c;
                        window[k] = inside ? data[(ih * CONFIG_T::in_width + iw) * CONFIG_T::n_chan + c] : data_T(0);
                    }
                }
            }
            dense<data_T, res_T, CONFIG_T>(window, pixel, weights, biases);
        Store:
            for (int f = 0; f < CONFIG_T::n_filt; f++) {
                res[p * CONFIG_T::n_filt + f] = pixel[f];
            }
        }
    }
}

// Depthwise Conv2D (depth multiplier 1): per channel c, the Dense arithmetic over the window
// of that channel with weights[k * n_chan + c] (k: kernel row, column), bias[c]. The output
// positions are scheduled as conv_2d_cl's (hls4ml's depthwise_conv_2d_latency_cl): n_partitions
// partitions of n_pixels (= ParallelizationFactor) positions, the partition loop pipelined at
// II = reuse_factor.
template <class data_T, class res_T, typename CONFIG_T>
void depthwise_conv_2d_cl(
    const data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
    res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_chan],
    const typename CONFIG_T::weight_t weights[CONFIG_T::filt_height * CONFIG_T::filt_width * CONFIG_T::n_chan],
    const typename CONFIG_T::bias_t biases[CONFIG_T::n_chan]) {
Partitions:
    for (int part = 0; part < CONFIG_T::n_partitions; part++) {
        #pragma HLS PIPELINE II = CONFIG_T::reuse_factor rewind
    Pixels:
        for (int px = 0; px < CONFIG_T::n_pixels; px++) {
            #pragma HLS UNROLL
            const int p = part * CONFIG_T::n_pixels + px;
            const int oh = p / CONFIG_T::out_width;
            const int ow = p % CONFIG_T::out_width;
        Channels:
            for (int c = 0; c < CONFIG_T::n_chan; c++) {
                typename CONFIG_T::accum_t acc = (typename CONFIG_T::accum_t)biases[c];
                for (int kh = 0; kh < CONFIG_T::filt_height; kh++) {
                    for (int kw = 0; kw < CONFIG_T::filt_width; kw++) {
                        const int ih = oh * CONFIG_T::stride_height - CONFIG_T::pad_top + kh * CONFIG_T::dilation_height;
                        const int iw = ow * CONFIG_T::stride_width - CONFIG_T::pad_left + kw * CONFIG_T::dilation_width;
                        const bool inside = ih >= 0 && ih < CONFIG_T::in_height && iw >= 0 && iw < CONFIG_T::in_width;
                        const data_T v = inside ? data[(ih * CONFIG_T::in_width + iw) * CONFIG_T::n_chan + c] : data_T(0);
                        const int k = kh * CONFIG_T::filt_width + kw;
                        typename CONFIG_T::accum_t product = v * weights[k * CONFIG_T::n_chan + c];
                        acc += product;
                    }
                }
                res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_chan + c] = (res_T)acc;
            }
        }
    }
}

}  // namespace hepinfer

#endif
