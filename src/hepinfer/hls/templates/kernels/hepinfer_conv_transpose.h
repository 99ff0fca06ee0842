// hepinfer kernel library: ConvTranspose (Keras Conv1DTranspose / Conv2DTranspose, ONNX
// ConvTranspose), channels last; 1D is a 2D of height 1. hls4ml 1.3 has no such kernel.
//
// The layer is the stride-1 'valid' convolution of the input put on a zero grid: input pixel
// (ih, iw) sits at grid position (grid_top + ih * stride_height, grid_left + iw * stride_width),
// every other grid position is 0, and the weights are the transposed kernel flipped (the
// equivalent convolution's kernel, as the emulator holds it: hepinfer/ops/conv_transpose.py).
// For every output pixel the window of the grid (kernel rows, columns, channels) goes through
// the Dense kernel, so the arithmetic is conv_2d_cl's: products of the grid's zeros are exact
// zeros and leave the accumulator unchanged. The schedule (n_partitions, n_pixels) is
// conv_2d_cl's.
#ifndef HEPINFER_CONV_TRANSPOSE_H
#define HEPINFER_CONV_TRANSPOSE_H

#include "hepinfer_common.h"
#include "hepinfer_dense.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void conv_transpose_2d_cl(const data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
                          res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_filt],
                          const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                          const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
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
                    // the window's grid position, relative to the first input pixel's
                    const int gh = oh + kh - CONFIG_T::grid_top;
                    const int gw = ow + kw - CONFIG_T::grid_left;
                    const int ih = gh / CONFIG_T::stride_height;
                    const int iw = gw / CONFIG_T::stride_width;
                    const bool inside = gh >= 0 && gw >= 0 && gh % CONFIG_T::stride_height == 0 &&
                                        gw % CONFIG_T::stride_width == 0 && ih < CONFIG_T::in_height &&
                                        iw < CONFIG_T::in_width;
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

}  // namespace hepinfer

#endif
