// hepinfer kernel library: io_stream infrastructure.
//
// A tensor travels as a stream of words, one word per pixel: the W values of its last axis at
// one position (packet<T, W>), positions in row-major order; a flat tensor is one word (or,
// after Flatten, the pixels it came from). Each layer is one DATAFLOW process that reads its
// input words as they come. Convolution and pooling keep a shift-register window fed by line
// buffers (hepinfer_conv_stream.h, hepinfer_pooling_stream.h); Dense gathers its input words.
#ifndef HEPINFER_STREAM_H
#define HEPINFER_STREAM_H

#include "hls_stream.h"
#include "hepinfer_common.h"
#include "hepinfer_dense.h"

namespace hepinfer {

// One sample held in an array -> N / W words of W values.
template <class T, int W, int N> void pack_words(const T in[N], hls::stream<packet<T, W> > &s) {
Words:
    for (int i = 0; i < N / W; i++) {
        #pragma HLS PIPELINE
        packet<T, W> p;
        #pragma HLS ARRAY_PARTITION variable = p.data complete
        for (int j = 0; j < W; j++) {
            #pragma HLS UNROLL
            p[j] = in[i * W + j];
        }
        s.write(p);
    }
}

// N / W words of W values -> one sample held in an array.
template <class T, int W, int N> void unpack_words(hls::stream<packet<T, W> > &s, T out[N]) {
Words:
    for (int i = 0; i < N / W; i++) {
        #pragma HLS PIPELINE
        packet<T, W> p = s.read();
        for (int j = 0; j < W; j++) {
            #pragma HLS UNROLL
            out[i * W + j] = p[j];
        }
    }
}

// Words of W_IN values -> words of W_OUT values in the same order (after a Reshape, for a
// layer that reads one pixel per word), word by word: one output word gathers W_OUT / W_IN
// input words, or one input word gives W_IN / W_OUT output words; otherwise one value moves
// per step between one buffered input word and the output word being filled.
template <class T, int W_IN, int W_OUT, int N>
void repack(hls::stream<packet<T, W_IN> > &in, hls::stream<packet<T, W_OUT> > &out) {
    if (W_OUT % W_IN == 0) {
    Gather:
        for (int i = 0; i < N / W_OUT; i++) {
            #pragma HLS PIPELINE II = W_OUT / W_IN
            packet<T, W_OUT> q;
            #pragma HLS ARRAY_PARTITION variable = q.data complete
            for (int k = 0; k < W_OUT / W_IN; k++) {
                packet<T, W_IN> p = in.read();
                for (int j = 0; j < W_IN; j++) {
                    #pragma HLS UNROLL
                    q[k * W_IN + j] = p[j];
                }
            }
            out.write(q);
        }
    } else if (W_IN % W_OUT == 0) {
    Scatter:
        for (int i = 0; i < N / W_IN; i++) {
            #pragma HLS PIPELINE II = W_IN / W_OUT
            packet<T, W_IN> p = in.read();
            for (int k = 0; k < W_IN / W_OUT; k++) {
                packet<T, W_OUT> q;
                #pragma HLS ARRAY_PARTITION variable = q.data complete
                for (int j = 0; j < W_OUT; j++) {
                    #pragma HLS UNROLL
                    q[j] = p[k * W_OUT + j];
                }
                out.write(q);
            }
        }
    } else {
        packet<T, W_IN> p;
        #pragma HLS ARRAY_PARTITION variable = p.data complete
        packet<T, W_OUT> q;
        #pragma HLS ARRAY_PARTITION variable = q.data complete
        int i_in = 0, i_out = 0;
    Values:
        for (int v = 0; v < N; v++) {
            #pragma HLS PIPELINE
            if (i_in == 0) p = in.read();
            q[i_out] = p[i_in];
            i_in = (i_in + 1 == W_IN) ? 0 : i_in + 1;
            if (i_out + 1 == W_OUT) {
                out.write(q);
                i_out = 0;
            } else {
                i_out++;
            }
        }
    }
}

// WORDS words copied from in to out, each value cast to res_T (Concatenate off the last axis).
template <class data_T, class res_T, int W, int WORDS>
void forward_words(hls::stream<packet<data_T, W> > &in, hls::stream<packet<res_T, W> > &out) {
Words:
    for (int i = 0; i < WORDS; i++) {
        #pragma HLS PIPELINE
        packet<data_T, W> p = in.read();
        packet<res_T, W> q;
        #pragma HLS ARRAY_PARTITION variable = q.data complete
        for (int j = 0; j < W; j++) {
            #pragma HLS UNROLL
            q[j] = (res_T)p[j];
        }
        out.write(q);
    }
}

// One word of in, cast to res_T, into out[OFFSET, OFFSET + W) (Concatenate on the last axis).
template <class data_T, class res_T, int W, int W_OUT, int OFFSET>
void concat_word(hls::stream<packet<data_T, W> > &in, packet<res_T, W_OUT> &out) {
    #pragma HLS INLINE
    packet<data_T, W> p = in.read();
    for (int j = 0; j < W; j++) {
        #pragma HLS UNROLL
        out[OFFSET + j] = (res_T)p[j];
    }
}

// Dense on n_in / W words of W values (a flat vector in one word, or the pixels of a
// flattened tensor); one word of n_out values out. The arithmetic is dense()'s.
template <class data_T, class res_T, typename CONFIG_T, int W>
void dense_stream(hls::stream<packet<data_T, W> > &in, hls::stream<packet<res_T, CONFIG_T::n_out> > &out,
                  const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                  const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    data_T data[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable = data complete
    res_T res[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable = res complete
    unpack_words<data_T, W, CONFIG_T::n_in>(in, data);
    dense<data_T, res_T, CONFIG_T>(data, res, weights, biases);
    pack_words<res_T, CONFIG_T::n_out, CONFIG_T::n_out>(res, out);
}

// ---- sliding windows over a stream of pixels (Conv and Pool, 1D as 2D of height 1) ----
//
// The kernel walks a grid of grid_height x grid_width positions of the zero-padded input; at
// a position inside the input it reads the next pixel, elsewhere it uses zeros. The window
// (win_height x win_width pixels, dilation included) is a shift register: each step shifts
// it one column left and takes its new right column from the line buffers (the last
// win_height - 1 rows, one grid row each) and the new pixel, which also shifts into the line
// buffers. The window ending at (row, col) is output (oh, ow) when row - (win_height - 1) is
// oh * stride_height and col - (win_width - 1) is ow * stride_width (window_cursor).

// The next pixel of the padded input at grid position (row, col).
template <class T, typename CONFIG_T> void read_pixel(hls::stream<packet<T, CONFIG_T::n_chan> > &in, int row, int col,
                                                     T pixel[CONFIG_T::n_chan]) {
    #pragma HLS INLINE
    const int ih = row - CONFIG_T::pad_top, iw = col - CONFIG_T::pad_left;
    if (ih >= 0 && ih < CONFIG_T::in_height && iw >= 0 && iw < CONFIG_T::in_width) {
        packet<T, CONFIG_T::n_chan> p = in.read();
        for (int c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            pixel[c] = p[c];
        }
    } else {
        for (int c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            pixel[c] = T(0);
        }
    }
}

// Shift `pixel` (grid column `col`) into the window and the line buffers.
template <class T, typename CONFIG_T>
void shift_window(const T pixel[CONFIG_T::n_chan],
                  T lines[CONFIG_T::line_rows][CONFIG_T::grid_width][CONFIG_T::n_chan],
                  T window[CONFIG_T::win_height][CONFIG_T::win_width][CONFIG_T::n_chan], int col) {
    #pragma HLS INLINE
    const int H = CONFIG_T::win_height, W = CONFIG_T::win_width;
Shift:
    for (int r = 0; r < H; r++) {
        #pragma HLS UNROLL
        for (int k = 0; k + 1 < W; k++) {
            #pragma HLS UNROLL
            for (int c = 0; c < CONFIG_T::n_chan; c++) {
                #pragma HLS UNROLL
                window[r][k][c] = window[r][k + 1][c];
            }
        }
    }
NewColumn:
    for (int c = 0; c < CONFIG_T::n_chan; c++) {
        #pragma HLS UNROLL
        for (int r = 0; r + 1 < H; r++) {
            #pragma HLS UNROLL
            window[r][W - 1][c] = lines[r][col][c];
        }
        window[H - 1][W - 1][c] = pixel[c];
        for (int r = 0; r + 2 < H; r++) {
            #pragma HLS UNROLL
            lines[r][col][c] = lines[r + 1][col][c];
        }
        if (H > 1) lines[H - 2][col][c] = pixel[c];
    }
}

// Which grid positions end an output window: the row is tested once per row, the columns
// follow a stride phase counter (no division in the pipelined column loop).
template <typename CONFIG_T> struct window_cursor {
    int oh, ow, phase;
    bool row_out;

    void start_row(int row) {
        const int r = row - (CONFIG_T::win_height - 1);
        row_out = r >= 0 && r % CONFIG_T::stride_height == 0 && r / CONFIG_T::stride_height < CONFIG_T::out_height;
        oh = r / CONFIG_T::stride_height;
        ow = 0;
        phase = 0;
    }

    // After the pixel of grid column `col`: whether the window is output pixel (oh, out_w).
    bool step(int col, int &out_w) {
        const bool full = col >= CONFIG_T::win_width - 1;
        const bool emit = row_out && full && phase == 0 && ow < CONFIG_T::out_width;
        out_w = ow;
        if (full) {
            if (phase == 0) ow++;
            phase = (phase + 1 == CONFIG_T::stride_width) ? 0 : phase + 1;
        }
        return emit;
    }
};

}  // namespace hepinfer

#endif
