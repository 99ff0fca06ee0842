// hepinfer native Dense kernel: the same integer arithmetic as hepinfer.ops.dense (hls4ml's
// dense_latency) on int64 mantissas, for a chain of Dense (+ ReLU) layers and a whole batch
// in one call.
//
// Per layer:  acc = bias;  for i: acc = A(acc + P(x_i * w_ij));  y = R(acc);  [y = C(max(y, 0))]
//
// P casts one exact product to the accumulator type (its quantisation; with a saturating
// accumulator also its overflow mode), A applies the accumulator's overflow mode after every
// addition (WRAP: a modular sum wrapped once at the end, which is the same), R is the
// optional cast to the result type and C the optional ReLU's cast to its own type. The Python
// side (hepinfer.emulate.native) only calls this when every intermediate provably fits the lane
// type (int32 or int64), so no step overflows.
//
// The batch is processed in tiles of TILE rows that pass through every layer of the chain
// while they sit in cache; inside a layer the innermost loop runs over the tile's rows (a
// fixed count, so the accumulators live in vector registers).
//
// Built per machine and cached by content hash (hepinfer.emulate.native). Portable: the baseline
// library (HEPINFER_ISA=0, no -m flags) tells which instruction set the CPU runs
// (hepinfer_native_isa); a separate library built with -mavx2 (1) or -mavx512* (2) is then
// loaded. Separate libraries, so no inline function compiled for a wider instruction set can
// leak into the baseline code through the linker.
#include <algorithm>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

constexpr int64_t TILE = 32;

enum Quant { TRN = 0, TRN_ZERO, RND, RND_ZERO, RND_INF, RND_MIN_INF, RND_CONV, LEFT };
enum Overflow { WRAP = 0, SAT, SAT_ZERO, SAT_SYM };

struct Type {  // a fixed-point target: width, signedness, modes and its mantissa range
  int64_t width = 0, is_signed = 0, quant = 0, overflow = 0, lo = 0, hi = 0;
};

Type make_type(const int64_t* d) {
  Type t;
  t.width = d[0];
  t.is_signed = d[1];
  t.quant = d[2];
  t.overflow = d[3];
  if (t.is_signed) {
    t.lo = -(int64_t(1) << (t.width - 1));
    t.hi = (int64_t(1) << (t.width - 1)) - 1;
    if (t.overflow == SAT_SYM && t.width > 1) t.lo = -t.hi;
  } else {
    t.hi = (int64_t(1) << t.width) - 1;
  }
  return t;
}

// floor(p / 2**k) rounded with Q (k >= 1); p + 2**k must not overflow T
template <int Q, typename T>
inline T quantise(T p, int k) {
  if (Q == TRN) return p >> k;
  const T half = T(1) << (k - 1);
  const bool neg = p < 0;
  if (Q == TRN_ZERO) return (p + (neg ? T((T(1) << k) - 1) : T(0))) >> k;
  if (Q == RND) return (p + half) >> k;
  if (Q == RND_ZERO) return (p + half - (neg ? T(0) : T(1))) >> k;
  if (Q == RND_INF) return (p + half - (neg ? T(1) : T(0))) >> k;
  if (Q == RND_MIN_INF) return (p + half - 1) >> k;
  return (p + half - 1 + ((p >> k) & 1)) >> k;  // RND_CONV: ties to even
}

template <int O, typename T>
inline T overflow(T v, T lo, T hi) {
  if (O == SAT_ZERO) return (v < lo || v > hi) ? T(0) : v;
  return std::min(std::max(v, lo), hi);  // SAT, SAT_SYM (lo = -hi)
}

inline int64_t wrap(int64_t v, int64_t width, int64_t is_signed) {
  const int s = int(64 - width);
  const uint64_t u = uint64_t(v) << s;
  return is_signed ? int64_t(u) >> s : int64_t(u >> s);
}

// ------------------------------------------------------------------ casts of whole blocks
template <int Q, int O>
void cast_block(int64_t* v, int64_t count, int sh, const Type& t) {
  const int64_t lo = t.lo, hi = t.hi, width = t.width, sgn = t.is_signed;
  for (int64_t e = 0; e < count; ++e) {
    int64_t q = v[e];
    if (Q == LEFT)
      q = int64_t(uint64_t(q) << -sh);
    else
      q = quantise<Q>(q, sh);
    if (O == WRAP)
      q = wrap(q, width, sgn);  // the identity on values in range
    else
      q = overflow<O>(q, lo, hi);
    v[e] = q;
  }
}

template <int Q>
void cast_block_o(int64_t* v, int64_t count, int sh, const Type& t) {
  switch (t.overflow) {
    case WRAP: return cast_block<Q, WRAP>(v, count, sh, t);
    case SAT_ZERO: return cast_block<Q, SAT_ZERO>(v, count, sh, t);
    default: return cast_block<Q, SAT>(v, count, sh, t);
  }
}

// v (mantissas with sh more fractional bits than t) cast to t, in place
void cast_block_any(int64_t* v, int64_t count, int sh, const Type& t) {
  if (sh <= 0) return cast_block_o<LEFT>(v, count, sh, t);
  switch (t.quant) {
    case TRN: return cast_block_o<TRN>(v, count, sh, t);
    case TRN_ZERO: return cast_block_o<TRN_ZERO>(v, count, sh, t);
    case RND: return cast_block_o<RND>(v, count, sh, t);
    case RND_ZERO: return cast_block_o<RND_ZERO>(v, count, sh, t);
    case RND_INF: return cast_block_o<RND_INF>(v, count, sh, t);
    case RND_MIN_INF: return cast_block_o<RND_MIN_INF>(v, count, sh, t);
    default: return cast_block_o<RND_CONV>(v, count, sh, t);
  }
}

// ------------------------------------------------------------------ one layer
constexpr int64_t FIELDS = 20;  // descriptor fields per layer (see hepinfer.emulate.native)

struct Layer {
  int64_t n_in = 0, n_out = 0, lanes = 64;
  int shift = 0;  // product frac - accumulator frac (> 0: quantise; <= 0: exact left shift)
  Type acc;
  bool has_res = false, has_relu = false;
  int64_t relu_kind = 0;  // the activation after the result cast: 1 ReLU, 2 linear (a cast)
  int res_shift = 0, relu_shift = 0;
  Type res, relu;
  const int64_t* w = nullptr;     // n_in x n_out
  const int64_t* bias = nullptr;  // n_out, in the accumulator type
  std::vector<int32_t> w32;       // n_out x n_in (transposed), in the lane type
  std::vector<int64_t> w64;
};

Layer make_layer(const int64_t* d, const int64_t* w, const int64_t* bias) {
  Layer L;
  L.n_in = d[0];
  L.n_out = d[1];
  L.lanes = d[2];
  L.shift = int(d[3]);
  L.acc = make_type(d + 4);
  L.has_res = d[8] != 0;
  L.res_shift = int(d[9]);
  L.res = make_type(d + 10);
  L.has_relu = d[14] != 0;
  L.relu_kind = d[14];
  L.relu_shift = int(d[15]);
  L.relu = make_type(d + 16);
  L.w = w;
  L.bias = bias;
  const int64_t n = L.n_in, m = L.n_out;
  if (L.lanes == 32) {
    L.w32.resize(n * m);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < m; ++c) L.w32[c * n + i] = int32_t(w[i * m + c]);
  } else {
    L.w64.resize(n * m);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < m; ++c) L.w64[c * n + i] = w[i * m + c];
  }
  return L;
}

// acc_out[c * TILE + t] = accumulator of output c for tile row t; xt: n_in x TILE inputs
template <typename T, int Q, int O>
void sums(const Layer& L, const T* wt, const T* __restrict xt, int64_t* __restrict acc_out) {
  using U = std::make_unsigned_t<T>;
  const int64_t n = L.n_in, m = L.n_out;
  const T lo = T(L.acc.lo), hi = T(L.acc.hi);
  const int k = L.shift;
  for (int64_t c = 0; c < m; ++c) {
    T acc[TILE];
    const T b = T(L.bias[c]);
    for (int64_t t = 0; t < TILE; ++t) acc[t] = b;
    const T* wc = wt + c * n;
    for (int64_t i = 0; i < n; ++i) {
      const T wv = wc[i];
      const T* xi = xt + i * TILE;
      for (int64_t t = 0; t < TILE; ++t) {
        const T p = T(xi[t] * wv);
        if (O == WRAP) {
          const U q = Q == LEFT ? U(U(p) << -k) : U(quantise<Q>(p, k));
          acc[t] = T(U(U(acc[t]) + q));
        } else {
          const T q = overflow<O>(Q == LEFT ? T(U(p) << -k) : quantise<Q>(p, k), lo, hi);
          acc[t] = overflow<O>(T(acc[t] + q), lo, hi);
        }
      }
    }
    int64_t* o = acc_out + c * TILE;
    for (int64_t t = 0; t < TILE; ++t) o[t] = int64_t(acc[t]);
  }
}

template <typename T, int Q>
void sums_o(const Layer& L, const T* wt, const T* xt, int64_t* acc_out) {
  switch (L.acc.overflow) {
    case WRAP: return sums<T, Q, WRAP>(L, wt, xt, acc_out);
    case SAT_ZERO: return sums<T, Q, SAT_ZERO>(L, wt, xt, acc_out);
    default: return sums<T, Q, SAT>(L, wt, xt, acc_out);  // SAT, SAT_SYM differ only in lo
  }
}

template <typename T>
void sums_any(const Layer& L, const T* wt, const T* xt, int64_t* acc_out) {
  if (L.shift <= 0) return sums_o<T, LEFT>(L, wt, xt, acc_out);
  switch (L.acc.quant) {
    case TRN: return sums_o<T, TRN>(L, wt, xt, acc_out);
    case TRN_ZERO: return sums_o<T, TRN_ZERO>(L, wt, xt, acc_out);
    case RND: return sums_o<T, RND>(L, wt, xt, acc_out);
    case RND_ZERO: return sums_o<T, RND_ZERO>(L, wt, xt, acc_out);
    case RND_INF: return sums_o<T, RND_INF>(L, wt, xt, acc_out);
    case RND_MIN_INF: return sums_o<T, RND_MIN_INF>(L, wt, xt, acc_out);
    default: return sums_o<T, RND_CONV>(L, wt, xt, acc_out);
  }
}

struct Scratch {
  std::vector<int64_t> a, b;  // TILE x width, row-major (layer inputs / outputs)
  std::vector<int64_t> acc;   // width x TILE
  std::vector<int32_t> x32;   // width x TILE
  std::vector<int64_t> x64;
};

// one layer on a tile: in (TILE x n_in) -> out (TILE x n_out)
void layer_tile(const Layer& L, const int64_t* in, int64_t* out, Scratch& s) {
  const int64_t n = L.n_in, m = L.n_out;
  if (L.lanes == 32) {
    int32_t* xt = s.x32.data();
    for (int64_t t = 0; t < TILE; ++t)
      for (int64_t i = 0; i < n; ++i) xt[i * TILE + t] = int32_t(in[t * n + i]);
    sums_any<int32_t>(L, L.w32.data(), xt, s.acc.data());
  } else {
    int64_t* xt = s.x64.data();
    for (int64_t t = 0; t < TILE; ++t)
      for (int64_t i = 0; i < n; ++i) xt[i * TILE + t] = in[t * n + i];
    sums_any<int64_t>(L, L.w64.data(), xt, s.acc.data());
  }
  int64_t* acc = s.acc.data();
  const int64_t count = m * TILE;
  if (L.acc.overflow == WRAP)  // the modular sum, wrapped to the accumulator's width
    for (int64_t e = 0; e < count; ++e) acc[e] = wrap(acc[e], L.acc.width, L.acc.is_signed);
  if (L.has_res) cast_block_any(acc, count, L.res_shift, L.res);
  if (L.has_relu) {
    if (L.relu_kind == 1)
      for (int64_t e = 0; e < count; ++e) acc[e] = std::max<int64_t>(acc[e], 0);
    cast_block_any(acc, count, L.relu_shift, L.relu);
  }
  for (int64_t t = 0; t < TILE; ++t)
    for (int64_t c = 0; c < m; ++c) out[t * m + c] = acc[c * TILE + t];
}

void run_rows(const std::vector<Layer>& layers, const int64_t* x, int64_t* y, int64_t b0,
              int64_t b1) {
  int64_t width = 0;
  for (const Layer& L : layers) width = std::max({width, L.n_in, L.n_out});
  Scratch s;
  s.a.assign(TILE * width, 0);
  s.b.assign(TILE * width, 0);
  s.acc.assign(TILE * width, 0);
  s.x32.assign(TILE * width, 0);
  s.x64.assign(TILE * width, 0);
  const int64_t n0 = layers.front().n_in, m_last = layers.back().n_out;
  for (int64_t r = b0; r < b1; r += TILE) {
    const int64_t rows = std::min(TILE, b1 - r);
    std::copy(x + r * n0, x + (r + rows) * n0, s.a.data());
    if (rows < TILE) std::fill(s.a.data() + rows * n0, s.a.data() + TILE * n0, 0);
    for (const Layer& L : layers) {
      layer_tile(L, s.a.data(), s.b.data(), s);
      std::swap(s.a, s.b);
    }
    std::copy(s.a.data(), s.a.data() + rows * m_last, y + r * m_last);
  }
}

}  // namespace

extern "C" {

// x: batch x n_in of the first layer (mantissas); y: batch x n_out of the last layer.
// desc: FIELDS int64 per layer: n_in, n_out, lanes (32/64), shift, acc {width, signed, quant,
// overflow}, has_res, res_shift, res {4}, act (0 none, 1 ReLU, 2 linear), act_shift, act {4}.
// weights[l]: n_in x n_out mantissas; biases[l]: n_out mantissas of the accumulator type.
int hepinfer_dense_chain(const int64_t* x, int64_t batch, int64_t n_layers, const int64_t* desc,
                         const int64_t* const* weights, const int64_t* const* biases,
                         int64_t threads, int64_t* y) {
  if (n_layers < 1 || batch < 0) return 1;
  std::vector<Layer> layers;
  for (int64_t l = 0; l < n_layers; ++l)
    layers.push_back(make_layer(desc + l * FIELDS, weights[l], biases[l]));
  const int64_t tiles = (batch + TILE - 1) / TILE;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, tiles / 16));
  if (parts == 1) {
    run_rows(layers, x, y, 0, batch);
    return 0;
  }
  const int64_t step = (tiles + parts - 1) / parts * TILE;
  std::vector<std::thread> pool;
  for (int64_t p = 1; p < parts; ++p) {
    const int64_t b0 = p * step, b1 = std::min(batch, b0 + step);
    if (b0 < b1) pool.emplace_back([&layers, x, y, b0, b1] { run_rows(layers, x, y, b0, b1); });
  }
  run_rows(layers, x, y, 0, std::min(batch, step));
  for (auto& t : pool) t.join();
  return 0;
}

// the instruction set level this CPU runs: 2 AVX-512 (F, BW, DQ, VL), 1 AVX2, 0 baseline
// (always 0 off x86, where the baseline build is the only one)
int hepinfer_native_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return 2;
  return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
  return 0;
#endif
}

// the instruction set level this library was compiled for
int hepinfer_native_build_isa() { return HEPINFER_ISA; }
}
