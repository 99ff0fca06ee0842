// hepinfer kernel library: io_stream adapters. Each tensor travels as one packet per sample
// (all its values in one stream word); a layer reads a packet, runs the array kernel and
// writes a packet, so every layer is a DATAFLOW process.
#ifndef HEPINFER_STREAM_H
#define HEPINFER_STREAM_H

#include "hls_stream.h"
#include "hepinfer_common.h"

namespace hepinfer {

template <class T, int N> void unpack(hls::stream<packet<T, N> > &s, T out[N]) {
    #pragma HLS INLINE
    packet<T, N> p = s.read();
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        out[i] = p[i];
    }
}

template <class T, int N> void pack(const T in[N], hls::stream<packet<T, N> > &s) {
    #pragma HLS INLINE
    packet<T, N> p;
    #pragma HLS ARRAY_PARTITION variable = p.data complete
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        p[i] = in[i];
    }
    s.write(p);
}

}  // namespace hepinfer

#endif
