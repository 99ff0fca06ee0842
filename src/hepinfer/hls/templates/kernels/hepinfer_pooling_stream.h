// hepinfer kernel library: max / average pooling on a stream of pixels (io_stream), 1D as 2D
// of height 1, and global pooling.
//
// Local pooling walks the padded input grid with the line-buffered window of
// hepinfer_stream.h; positions of the window outside the input are skipped as in pool_2d_cl
// (hepinfer_pooling.h), whose per-window arithmetic (pool_window) it shares. Global pooling
// keeps a running maximum and an exact running sum per channel and writes one word.
#ifndef HEPINFER_POOLING_STREAM_H
#define HEPINFER_POOLING_STREAM_H

#include "hepinfer_common.h"
#include "hepinfer_pooling.h"
#include "hepinfer_stream.h"

namespace hepinfer {

template <class data_T, class res_T, typename CONFIG_T>
void pool_2d_cl_stream(hls::stream<packet<data_T, CONFIG_T::n_chan> > &in,
                       hls::stream<packet<res_T, CONFIG_T::n_chan> > &out) {
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
            const int oh = cursor.oh;
            packet<res_T, CONFIG_T::n_chan> p;
            #pragma HLS ARRAY_PARTITION variable = p.data complete
        Channels:
            for (int c = 0; c < CONFIG_T::n_chan; c++) {
                data_T taps[CONFIG_T::pool_height][CONFIG_T::pool_width];
                #pragma HLS ARRAY_PARTITION variable = taps complete dim = 0
                for (int kh = 0; kh < CONFIG_T::pool_height; kh++) {
                    for (int kw = 0; kw < CONFIG_T::pool_width; kw++) taps[kh][kw] = window[kh][kw][c];
                }
                p[c] = pool_window<data_T, res_T, CONFIG_T>(taps, oh, ow);
            }
            out.write(p);
        }
    }
}

// Global pooling: one pass over the in_height * in_width pixels, one word out.
template <class data_T, class res_T, typename CONFIG_T>
void global_pool_stream(hls::stream<packet<data_T, CONFIG_T::n_chan> > &in,
                        hls::stream<packet<res_T, CONFIG_T::n_chan> > &out) {
    typedef typename CONFIG_T::accum_t accum_t;
    data_T best[CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable = best complete
    typename CONFIG_T::wide_t total[CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable = total complete
    for (int c = 0; c < CONFIG_T::n_chan; c++) {
        #pragma HLS UNROLL
        best[c] = lowest<data_T>();
        total[c] = 0;
    }
Pixels:
    for (int i = 0; i < CONFIG_T::in_height * CONFIG_T::in_width; i++) {
        #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
        packet<data_T, CONFIG_T::n_chan> p = in.read();
        for (int c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            if (p[c] > best[c]) best[c] = p[c];
            total[c] += (accum_t)p[c];
        }
    }
    packet<res_T, CONFIG_T::n_chan> q;
    #pragma HLS ARRAY_PARTITION variable = q.data complete
    for (int c = 0; c < CONFIG_T::n_chan; c++) {
        #pragma HLS UNROLL
        q[c] = pool_result<data_T, res_T, CONFIG_T>(best[c], total[c], CONFIG_T::in_height * CONFIG_T::in_width);
    }
    out.write(q);
}

}  // namespace hepinfer

#endif
