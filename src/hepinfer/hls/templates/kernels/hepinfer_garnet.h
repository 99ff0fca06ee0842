// GarNet / GarNetStack (hls4ml's nnet_garnet.h, simplified, input_format 'xn'), io_parallel.
// Per sublayer: the vertices hls4ml's loops compute (blocks of `unroll` vertices, stopping at
// the vertex count); per computed vertex the distance to each aggregator in distance_t (bias,
// products and sums cast to it), the edge weight from table[distance's 12 raw bits], the
// block sums of edge weights (edge_aggr_t) and of x * e (cast to the input's type, summed in
// aggr_t), each block sum shifted down by log2_unroll and added, the total shifted down by
// log2_reuse; base[o][a] = mean_e[a] * itb + sum_f mean_x[a][f] * itw in aggr_t; a vertex's
// output otb[o] + sum_a e[v][a] * base[o][a] in res_T (each product cast), 0 for the vertices
// not computed; collapse: ((otb * n) >> log2_vertices in aggr_t, then otb_last_t) +
// sum_a mean_e[a] * base[o][a] in res_T. With mean_by_nvert (hls4ml's set_means_normalized
// and OutputBiasNormalizer): the block sums' total times norm_t(unroll / n) (an integer
// quotient, computed on the count's mantissa) instead of the shift by log2_reuse, and the
// collapse starts from otb itself. Arrays hold every sublayer one after another (dims: n_in,
// n_agg, n_out per sublayer).
#ifndef HEPINFER_GARNET_H
#define HEPINFER_GARNET_H

#include "hepinfer_common.h"

namespace hepinfer {

template <class in_T, typename CONFIG_T>
void garnet_aggregate(const in_T *x, int stride, int n_feat, int n_agg, const bool mask[CONFIG_T::n_vertices],
                      const typename CONFIG_T::norm_t norm,
                      const typename CONFIG_T::adw_t *adw, const typename CONFIG_T::adb_t *adb,
                      const typename CONFIG_T::table_t table[4096],
                      typename CONFIG_T::edge_t edge[CONFIG_T::n_vertices * CONFIG_T::max_agg],
                      typename CONFIG_T::edge_t mean_e[CONFIG_T::max_agg],
                      typename CONFIG_T::aggr_t mean_x[CONFIG_T::max_agg * CONFIG_T::max_feat]) {
    typedef typename CONFIG_T::edge_aggr_t ewa_t;
    typedef typename CONFIG_T::aggr_t aggr_t;
    typedef typename CONFIG_T::distance_t dist_t;
    const int A = CONFIG_T::max_agg, F = CONFIG_T::max_feat;
    ewa_t acc_e[A];
    aggr_t acc_x[A * F];
    for (int i = 0; i < A; i++) {
        acc_e[i] = 0;
        for (int f = 0; f < F; f++) {
            acc_x[i * F + f] = 0;
        }
    }
    for (int block = 0; block < CONFIG_T::reuse; block++) {
        ewa_t loc_e[A];
        aggr_t loc_x[A * F];
        for (int i = 0; i < A; i++) {
            loc_e[i] = 0;
            for (int f = 0; f < F; f++) {
                loc_x[i * F + f] = 0;
            }
        }
        for (int j = 0; j < CONFIG_T::unroll; j++) {
            const int v = block * CONFIG_T::unroll + j;
            for (int a = 0; a < A; a++) {
                if (a >= n_agg) {
                    continue;
                }
                if (!mask[v]) {
                    edge[v * A + a] = 0;
                    continue;
                }
                dist_t d = adb[a];
                for (int f = 0; f < F; f++) {
                    if (f < n_feat) {
                        const dist_t incr = x[v * stride + f] * adw[a * n_feat + f];
                        d += incr;
                    }
                }
                const int index = mantissa(d).to_int() & 4095;
                const typename CONFIG_T::edge_t e = table[index];
                edge[v * A + a] = e;
                loc_e[a] += e;
                for (int f = 0; f < F; f++) {
                    if (f < n_feat) {
                        const in_T incr = x[v * stride + f] * e;
                        loc_x[a * F + f] += incr;
                    }
                }
            }
        }
        for (int a = 0; a < A; a++) {
            acc_e[a] += loc_e[a] >> CONFIG_T::log2_unroll;
            for (int f = 0; f < F; f++) {
                acc_x[a * F + f] += loc_x[a * F + f] >> CONFIG_T::log2_unroll;
            }
        }
    }
    for (int a = 0; a < A; a++) {
        if (CONFIG_T::mean_by_nvert) {
            mean_e[a] = acc_e[a] * norm;
        } else {
            mean_e[a] = acc_e[a] >> CONFIG_T::log2_reuse;
        }
        for (int f = 0; f < F; f++) {
            if (CONFIG_T::mean_by_nvert) {
                mean_x[a * F + f] = acc_x[a * F + f] * norm;
            } else {
                mean_x[a * F + f] = acc_x[a * F + f] >> CONFIG_T::log2_reuse;
            }
        }
    }
}

template <class data_T, class nvtx_T, class res_T, typename CONFIG_T>
void garnet(const data_T data[CONFIG_T::n_in], const nvtx_T nvtx[1], res_T res[CONFIG_T::n_out],
            const typename CONFIG_T::table_t table[4096], const typename CONFIG_T::itw_t itw[],
            const typename CONFIG_T::itb_t itb[], const typename CONFIG_T::adw_t adw[],
            const typename CONFIG_T::adb_t adb[], const typename CONFIG_T::otb_t otb[],
            const typename CONFIG_T::dims_t dims[]) {
    typedef typename CONFIG_T::aggr_t aggr_t;
    typedef typename CONFIG_T::edge_t edge_t;
    const int V = CONFIG_T::n_vertices, A = CONFIG_T::max_agg, F = CONFIG_T::max_feat;
    const nvtx_T n = nvtx[0];
    bool mask[V];
    for (int v = 0; v < V; v++) {
        mask[v] = false;
    }
    for (int block = 0; block < CONFIG_T::reuse; block++) {  // hls4ml's loop bounds
        if (n <= (int)(block * CONFIG_T::unroll)) {
            break;
        }
        for (int j = 0; j < CONFIG_T::unroll; j++) {
            const int v = block * CONFIG_T::unroll + j;
            if (n == v) {
                break;
            }
            mask[v] = true;
        }
    }
    // hls4ml's norm_t((unsigned) unroll / nvtx): the quotient truncated to an integer
    const int count_m = mantissa(n).to_int();
    const int quotient = count_m > 0 ? (int)(((long long)CONFIG_T::unroll << CONFIG_T::count_frac) / count_m) : 0;
    const typename CONFIG_T::norm_t norm = quotient;
    res_T feat[V * F];
    edge_t edge[V * A];
    edge_t mean_e[A];
    aggr_t mean_x[A * F];
    aggr_t base[F * A];
    int o_itw = 0, o_itb = 0, o_adw = 0, o_adb = 0, o_otb = 0;
    for (int l = 0; l < CONFIG_T::n_sublayers; l++) {
        const int n_feat = dims[3 * l].to_int(), n_agg = dims[3 * l + 1].to_int(), n_out = dims[3 * l + 2].to_int();
        if (l == 0) {
            garnet_aggregate<data_T, CONFIG_T>(data, n_feat, n_feat, n_agg, mask, norm, adw + o_adw, adb + o_adb, table,
                                               edge, mean_e, mean_x);
        } else {
            garnet_aggregate<res_T, CONFIG_T>(feat, F, n_feat, n_agg, mask, norm, adw + o_adw, adb + o_adb, table, edge,
                                              mean_e, mean_x);
        }
        for (int o = 0; o < F; o++) {
            for (int a = 0; a < A; a++) {
                if (o < n_out && a < n_agg) {
                    aggr_t acc = mean_e[a] * itb[o_itb + o * n_agg + a];
                    for (int f = 0; f < F; f++) {
                        if (f < n_feat) {
                            acc += mean_x[a * F + f] * itw[o_itw + (o * n_agg + a) * n_feat + f];
                        }
                    }
                    base[o * A + a] = acc;
                }
            }
        }
        if (l == CONFIG_T::n_sublayers - 1 && CONFIG_T::collapse) {
            for (int o = 0; o < CONFIG_T::n_out; o++) {
                aggr_t bias = otb[o_otb + o];
                bias *= n;
                const typename CONFIG_T::otb_last_t normalized = bias >> CONFIG_T::log2_vertices;
                res_T acc = normalized;
                if (CONFIG_T::mean_by_nvert) {
                    acc = otb[o_otb + o];
                }
                for (int a = 0; a < A; a++) {
                    if (a < n_agg) {
                        acc += mean_e[a] * base[o * A + a];
                    }
                }
                res[o] = acc;
            }
            return;
        }
        for (int v = 0; v < V; v++) {
            for (int o = 0; o < F; o++) {
                res_T acc = 0;
                if (mask[v] && o < n_out) {
                    acc = otb[o_otb + o];
                    for (int a = 0; a < A; a++) {
                        if (a < n_agg) {
                            const res_T incr = edge[v * A + a] * base[o * A + a];
                            acc += incr;
                        }
                    }
                }
                feat[v * F + o] = acc;
            }
        }
        o_itw += n_out * n_agg * n_feat;
        o_itb += n_out * n_agg;
        o_adw += n_agg * n_feat;
        o_adb += n_agg;
        o_otb += n_out;
        if (l == CONFIG_T::n_sublayers - 1) {
            const int width = CONFIG_T::n_out / V;  // the last sublayer's outputs per vertex
            for (int v = 0; v < V; v++) {
                for (int o = 0; o < F; o++) {
                    if (o < width) {
                        res[v * width + o] = feat[v * F + o];
                    }
                }
            }
        }
    }
}

}  // namespace hepinfer

#endif
