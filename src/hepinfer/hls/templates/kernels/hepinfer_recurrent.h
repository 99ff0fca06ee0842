// hepinfer kernel library: recurrent layers (LSTM, GRU, SimpleRNN), io_parallel.
//
// Arithmetic (bit for bit what the emulator computes, hepinfer.ops.recurrent and the op
// modules; hls4ml 1.3's nnet_recurrent.h for LSTM and GRU): per time step, the input and the
// state go through Dense kernels whose accumulator and result are accum_t; their sums are
// assigned to accum_t; activations (relu, or hls4ml's sigmoid / tanh tables) read accum_t
// (the LSTM cell activation reads the cell state) and write accum_t; the state update is
// computed exactly and assigned to res_T (the state's type). The steps run in sequence, the
// state starting at zero; the output is every step's state (n_sequence_out > 1) or the last.
//
// CONFIG_T: n_in, n_state, n_gates, n_sequence, n_sequence_out, reuse_factor, table_size,
// recr_act / act (0 relu, 1 sigmoid, 2 tanh), use_static, reset_after, backward; weight_t, bias_t
// (the kernel's and bias'), recurrent_weight_t, recurrent_bias_t (the recurrent kernel's and
// recurrent bias', hls4ml's second mult_config), accum_t, table_t. Arrays: kernel (n_in, gates * n_state) and recurrent kernel
// (n_state, gates * n_state) row-major, the two biases, the recurrent and the candidate
// activation's tables.
#ifndef HEPINFER_RECURRENT_H
#define HEPINFER_RECURRENT_H

#include "hepinfer_common.h"
#include "hepinfer_dense.h"

namespace hepinfer {

// The Dense kernel of one step: N_IN inputs, N_OUT outputs, weights W_T, biases B_T,
// accumulator and result accum_t.
template <typename CONFIG_T, int N_IN, int N_OUT, class W_T, class B_T> struct rnn_dense_config {
    static const int n_in = N_IN;
    static const int n_out = N_OUT;
    static const int reuse_factor = CONFIG_T::reuse_factor;
    static const int multiplier_limit = (N_IN * N_OUT + CONFIG_T::reuse_factor - 1) / CONFIG_T::reuse_factor;
    static const hepinfer::strategy strategy = latency;
    typedef W_T weight_t;
    typedef B_T bias_t;
    typedef typename CONFIG_T::accum_t accum_t;
};

// The input's Dense (kernel and bias) and the state's (recurrent kernel and bias).
template <typename CONFIG_T, int N_OUT>
struct rnn_input_dense
    : rnn_dense_config<CONFIG_T, CONFIG_T::n_in, N_OUT, typename CONFIG_T::weight_t, typename CONFIG_T::bias_t> {};
template <typename CONFIG_T, int N_IN, int N_OUT>
struct rnn_state_dense : rnn_dense_config<CONFIG_T, N_IN, N_OUT, typename CONFIG_T::recurrent_weight_t,
                                          typename CONFIG_T::recurrent_bias_t> {};

// hls4ml's table index: int(x * table_size / span) + table_size / 2, clipped (truncation
// toward zero): x's mantissa times table_size, shifted down by log2(span) + x's fractional
// bits (span is 2**SPAN_BITS); integer bit slicing only, as lut_index.
template <int TABLE_SIZE, int SPAN_BITS, class data_T> inline int rnn_table_index(const data_T &x) {
    #pragma HLS INLINE
    enum { M = mantissa_bits<data_T>::value, W = M + 17, FRAC = data_T::width - data_T::iwidth };
    const int half = TABLE_SIZE / 2;
    ap_int<W> num = mantissa(x) * (ap_uint<17>)TABLE_SIZE;
    ap_uint<W> mag = magnitude<W>(num);
    const auto q = shift_down<SPAN_BITS + FRAC, W>(mag);
    int idx;
    if (num < 0) {
        idx = q > half ? 0 : half - q.to_int();
    } else {
        idx = q >= half ? TABLE_SIZE - 1 : half + q.to_int();
    }
    return idx;
}

// nnet::activation::<kind> of N values into out_T (accum_t; the state for a SimpleRNN).
template <typename CONFIG_T, int KIND, int N, class data_T, class out_T>
void rnn_activation(const data_T data[N], out_T res[N], const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    #pragma HLS INLINE
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        if (KIND == 0) {
            res[i] = data[i] > 0 ? (out_T)data[i] : (out_T)0;
        } else if (KIND == 1) {
            res[i] = (out_T)table[rnn_table_index<CONFIG_T::table_size, 4>(data[i])];
        } else {
            res[i] = (out_T)table[rnn_table_index<CONFIG_T::table_size, 3>(data[i])];
        }
    }
}

// One LSTM step (gate order i, f, c, o): updates the state h and the cell state s.
template <class data_T, class res_T, typename CONFIG_T>
void lstm_step(const data_T x[CONFIG_T::n_in], res_T h[CONFIG_T::n_state], res_T s[CONFIG_T::n_state],
               const typename CONFIG_T::weight_t w[], const typename CONFIG_T::recurrent_weight_t wr[],
               const typename CONFIG_T::bias_t b[], const typename CONFIG_T::recurrent_bias_t br[],
               const typename CONFIG_T::table_t table_recr[], const typename CONFIG_T::table_t table_act[]) {
    #pragma HLS INLINE
    const int N = CONFIG_T::n_state;
    typedef typename CONFIG_T::accum_t accum_t;
    accum_t ax[4 * N], ah[4 * N], a_ifo[3 * N], a_c[N], ifo[3 * N], c[N], s_act[N];
    #pragma HLS ARRAY_PARTITION variable = ax complete
    #pragma HLS ARRAY_PARTITION variable = ah complete
    dense_latency<data_T, accum_t, rnn_input_dense<CONFIG_T, 4 * N> >(x, ax, w, b);
    dense_latency<res_T, accum_t, rnn_state_dense<CONFIG_T, N, 4 * N> >(h, ah, wr, br);
    for (int i = 0; i < 3 * N; i++) {
        #pragma HLS UNROLL
        const int k = i < 2 * N ? i : i + N;
        a_ifo[i] = ax[k] + ah[k];
    }
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        a_c[i] = ax[2 * N + i] + ah[2 * N + i];
    }
    rnn_activation<CONFIG_T, CONFIG_T::recr_act, 3 * N>(a_ifo, ifo, table_recr);
    rnn_activation<CONFIG_T, CONFIG_T::act, N>(a_c, c, table_act);
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        s[i] = c[i] * ifo[i] + s[i] * ifo[N + i];
    }
    rnn_activation<CONFIG_T, CONFIG_T::act, N>(s, s_act, table_act);
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        h[i] = ifo[2 * N + i] * s_act[i];
    }
}

// One GRU step (gate order z, r, h): updates the state h.
template <class data_T, class res_T, typename CONFIG_T>
void gru_step(const data_T x[CONFIG_T::n_in], res_T h[CONFIG_T::n_state], const typename CONFIG_T::weight_t w[],
              const typename CONFIG_T::recurrent_weight_t wr[], const typename CONFIG_T::bias_t b[],
              const typename CONFIG_T::recurrent_bias_t br[], const typename CONFIG_T::table_t table_recr[],
              const typename CONFIG_T::table_t table_act[]) {
    #pragma HLS INLINE
    const int N = CONFIG_T::n_state;
    typedef typename CONFIG_T::accum_t accum_t;
    accum_t ax[3 * N], ah[3 * N], a_zr[2 * N], zr[2 * N], gated[N], a_h[N], cand[N];
    #pragma HLS ARRAY_PARTITION variable = ax complete
    #pragma HLS ARRAY_PARTITION variable = ah complete
    dense_latency<data_T, accum_t, rnn_input_dense<CONFIG_T, 3 * N> >(x, ax, w, b);
    dense_latency<res_T, accum_t, rnn_state_dense<CONFIG_T, N, 3 * N> >(h, ah, wr, br);
    for (int i = 0; i < 2 * N; i++) {
        #pragma HLS UNROLL
        a_zr[i] = ax[i] + ah[i];
    }
    rnn_activation<CONFIG_T, CONFIG_T::recr_act, 2 * N>(a_zr, zr, table_recr);
    if (CONFIG_T::reset_after) {
        for (int i = 0; i < N; i++) {
            #pragma HLS UNROLL
            gated[i] = zr[N + i] * ah[2 * N + i];
        }
    } else {
        // (r * h) through the candidate's columns of the recurrent kernel (Keras' reset_after=False)
        res_T rh[N];
        typename CONFIG_T::recurrent_weight_t wh[N * N];
        typename CONFIG_T::recurrent_bias_t bh[N];
        #pragma HLS ARRAY_PARTITION variable = rh complete
        for (int i = 0; i < N; i++) {
            #pragma HLS UNROLL
            rh[i] = zr[N + i] * h[i];
            bh[i] = br[2 * N + i];
            for (int j = 0; j < N; j++) {
                #pragma HLS UNROLL
                wh[i * N + j] = wr[i * 3 * N + 2 * N + j];
            }
        }
        dense_latency<res_T, accum_t, rnn_state_dense<CONFIG_T, N, N> >(rh, gated, wh, bh);
    }
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        a_h[i] = ax[2 * N + i] + gated[i];
    }
    rnn_activation<CONFIG_T, CONFIG_T::act, N>(a_h, cand, table_act);
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        h[i] = (res_T)(cand[i] * (ap_fixed<32, 32>(1) - zr[i]) + h[i] * zr[i]);
    }
}

// One SimpleRNN step: h = act(x W + b + h R + br), the activation writing the state's type.
template <class data_T, class res_T, typename CONFIG_T>
void simple_rnn_step(const data_T x[CONFIG_T::n_in], res_T h[CONFIG_T::n_state],
                     const typename CONFIG_T::weight_t w[], const typename CONFIG_T::recurrent_weight_t wr[],
                     const typename CONFIG_T::bias_t b[], const typename CONFIG_T::recurrent_bias_t br[],
                     const typename CONFIG_T::table_t table_act[]) {
    #pragma HLS INLINE
    const int N = CONFIG_T::n_state;
    typedef typename CONFIG_T::accum_t accum_t;
    accum_t ax[N], ah[N], a[N];
    dense_latency<data_T, accum_t, rnn_input_dense<CONFIG_T, N> >(x, ax, w, b);
    dense_latency<res_T, accum_t, rnn_state_dense<CONFIG_T, N, N> >(h, ah, wr, br);
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        a[i] = ax[i] + ah[i];
    }
    rnn_activation<CONFIG_T, CONFIG_T::act, N>(a, h, table_act);
}

// The sequence: zero states, one step per time step (last to first when backward), the
// states written out at their step's position.
template <class data_T, class res_T, typename CONFIG_T>
void recurrent_stack(const data_T data[CONFIG_T::n_sequence * CONFIG_T::n_in],
                     res_T res[CONFIG_T::n_sequence_out * CONFIG_T::n_state], const typename CONFIG_T::weight_t w[],
                     const typename CONFIG_T::recurrent_weight_t wr[], const typename CONFIG_T::bias_t b[],
                     const typename CONFIG_T::recurrent_bias_t br[], const typename CONFIG_T::table_t table_recr[],
                     const typename CONFIG_T::table_t table_act[]) {
    const int N = CONFIG_T::n_state;
    res_T h[N], s[N];
    data_T x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable = h complete
    #pragma HLS ARRAY_PARTITION variable = s complete
    #pragma HLS ARRAY_PARTITION variable = x complete
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        h[i] = 0;
        s[i] = 0;
    }
Steps:
    for (int step = 0; step < CONFIG_T::n_sequence; step++) {
        const int t = CONFIG_T::backward ? CONFIG_T::n_sequence - 1 - step : step;
        for (int j = 0; j < CONFIG_T::n_in; j++) {
            #pragma HLS UNROLL
            x[j] = data[t * CONFIG_T::n_in + j];
        }
        if (CONFIG_T::n_gates == 4) {
            lstm_step<data_T, res_T, CONFIG_T>(x, h, s, w, wr, b, br, table_recr, table_act);
        } else if (CONFIG_T::n_gates == 3) {
            gru_step<data_T, res_T, CONFIG_T>(x, h, w, wr, b, br, table_recr, table_act);
        } else {
            simple_rnn_step<data_T, res_T, CONFIG_T>(x, h, w, wr, b, br, table_act);
        }
        if (CONFIG_T::n_sequence_out > 1) {
            for (int i = 0; i < N; i++) {
                #pragma HLS UNROLL
                res[t * N + i] = h[i];
            }
        }
    }
    if (CONFIG_T::n_sequence_out == 1) {
        for (int i = 0; i < N; i++) {
            #pragma HLS UNROLL
            res[i] = h[i];
        }
    }
}

}  // namespace hepinfer

#endif
