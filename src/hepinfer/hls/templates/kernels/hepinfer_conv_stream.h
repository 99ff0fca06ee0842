// hepinfer kernel library: Conv1D / Conv2D / depthwise Conv2D on a stream of pixels (io_stream).
//
// One pass over the padded input grid with a line-buffered shift-register window
// (hepinfer_stream.h), one output pixel written per output window. The arithmetic of each
// output pixel is that of conv_2d_cl / depthwise_conv_2d_cl (hepinfer_conv.h), so the stream
// and array kernels give the same bits.
#ifndef HEPINFER_CONV_STREAM_H
#define HEPINFER_CONV_STREAM_H

#include "hepinfer_common.h"
#include "hepinfer_dense.h"
#include "hepinfer_stream.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void conv_2d_cl_stream(hls::stream<packet<data_T, CONFIG_T::n_chan> > &in,
                       hls::stream<packet<res_T, CONFIG_T::n_filt> > &out,
                       const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                       const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    data_T lines[CONFIG_T::line_rows][CONFIG_T::grid_width][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable = lines complete dim = 1
    #pragma HLS ARRAY_PARTITION variable = lines complete dim = 3
    data_T window[CONFIG_T::win_height][CONFIG_T::win_width][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable = window complete dim = 0
Rows:
    for (int row = 0; row < CONFIG_T::grid_height; row++) {
        window_cursor<CONFIG_T> cursor;
        cursor.start_row(row);
    Columns:
        for (int col = 0; col < CONFIG_T::grid_width; col++) {
            #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
            data_T pixel[CONFIG_T::n_chan];
            #pragma HLS ARRAY_PARTITION variable = pixel complete
            read_pixel<data_T, CONFIG_T>(in, row, col, pixel);
            shift_window<data_T, CONFIG_T>(pixel, lines, window, col);
            int ow;
            if (!cursor.step(col, ow)) continue;
            data_T taps[CONFIG_T::n_in];
            #pragma HLS ARRAY_PARTITION variable = taps complete
        Taps:
            for (int kh = 0; kh < CONFIG_T::filt_height; kh++) {
                for (int kw = 0; kw < CONFIG_T::filt_width; kw++) {
                    for (int c = 0; c < CONFIG_T::n_chan; c++) {
                        taps[(kh * CONFIG_T::filt_width + kw) * CONFIG_T::n_chan + c] =
                            window[kh * CONFIG_T::dilation_height][kw * CONFIG_T::dilation_width][c];
                    }
                }
            }
            res_T res[CONFIG_T::n_out];
            #pragma HLS ARRAY_PARTITION variable = res complete
            dense<data_T, res_T, CONFIG_T>(taps, res, weights, biases);
            packet<res_T, CONFIG_T::n_filt> p;
            #pragma HLS ARRAY_PARTITION variable = p.data complete
            for (int f = 0; f < CONFIG_T::n_filt; f++) {
                #pragma HLS UNROLL
                p[f] = res[f];
            }
            out.write(p);
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void depthwise_conv_2d_cl_stream(
    hls::stream<packet<data_T, CONFIG_T::n_chan> > &in, hls::stream<packet<res_T, CONFIG_T::n_chan> > &out,
    const typename CONFIG_T::weight_t weights[CONFIG_T::filt_height * CONFIG_T::filt_width * CONFIG_T::n_chan],
    const typename CONFIG_T::bias_t biases[CONFIG_T::n_chan]) {
    data_T lines[CONFIG_T::line_rows][CONFIG_T::grid_width][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable = lines complete dim = 1
    #pragma HLS ARRAY_PARTITION variable = lines complete dim = 3
    data_T window[CONFIG_T::win_height][CONFIG_T::win_width][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable = window complete dim = 0
Rows:
    for (int row = 0; row < CONFIG_T::grid_height; row++) {
        window_cursor<CONFIG_T> cursor;
        cursor.start_row(row);
    Columns:
        for (int col = 0; col < CONFIG_T::grid_width; col++) {
            #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
            data_T pixel[CONFIG_T::n_chan];
            #pragma HLS ARRAY_PARTITION variable = pixel complete
            read_pixel<data_T, CONFIG_T>(in, row, col, pixel);
            shift_window<data_T, CONFIG_T>(pixel, lines, window, col);
            int ow;
            if (!cursor.step(col, ow)) continue;
            packet<res_T, CONFIG_T::n_chan> p;
            #pragma HLS ARRAY_PARTITION variable = p.data complete
        Channels:
            for (int c = 0; c < CONFIG_T::n_chan; c++) {
                typename CONFIG_T::accum_t acc = (typename CONFIG_T::accum_t)biases[c];
                for (int kh = 0; kh < CONFIG_T::filt_height; kh++) {
                    for (int kw = 0; kw < CONFIG_T::filt_width; kw++) {
                        const data_T v = window[kh * CONFIG_T::dilation_height][kw * CONFIG_T::dilation_width][c];
                        typename CONFIG_T::accum_t product =
                            v * weights[(kh * CONFIG_T::filt_width + kw) * CONFIG_T::n_chan + c];
                        acc += product;
                    }
                }
                p[c] = (res_T)acc;
            }
            out.write(p);
        }
    }
}

}  // namespace hepinfer

#endif
