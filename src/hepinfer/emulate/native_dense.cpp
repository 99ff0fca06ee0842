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
// type (int32 or int64), so no step overflows; or, for WRAP accumulators of <= 16 bits, sums
// mod 2**16 in int16 lanes (see "16-bit lanes" below).
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
#include <cmath>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

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
  // lanes 16: per block of NB outputs, its entries (an input i and its NB weights, each
  // weight twice: a 32-bit broadcast fills the lanes): first those whose weights all allow
  // one multiply (pre-shifted, see narrow_layer), then the others; all-zero ones dropped
  std::vector<uint32_t> w16;
  std::vector<int32_t> i16;       // each entry's input
  std::vector<int64_t> e16;       // per block: first entry, first two-multiply entry, end
  bool fast = false;  // lanes 16: the result / activation casts are identities (see narrow_fast)
  bool next16 = false;  // lanes 16 in a program: the next step is a lanes-16 Dense too
  std::vector<int64_t> w64;
  std::vector<int32_t> r32;       // n_in x n_out (as given), for single rows (programs only)
  std::vector<int64_t> r64;
  std::vector<int64_t> own_bias;  // a program's copy of the bias
};

// ------------------------------------------------------------------ 16-bit lanes
// A layer whose inputs and weights fit int16 and whose accumulator WRAPs at <= 16 bits runs
// in int16 lanes (hepinfer.emulate.native.plan: lanes 16). A product p = x * w is exact in
// 32 bits: hi = floor(p / 2**16) (a signed high-half multiply) and lo = p mod 2**16 (the low
// half). Its cast to the accumulator, shifted by k = product frac - accumulator frac, is
//   k <= 0:      p * 2**-k                     = lo << -k                      (mod 2**16)
//   TRN, k > 0:  floor(p / 2**k)               = (hi << (16 - k)) + (lo >> k)  (exactly)
//   RND, k > 0:  floor((p + 2**(k-1)) / 2**k)  = floor(p / 2**(k-1)) - floor(p / 2**k)
// and the accumulator keeps only its value mod 2**W (W <= 16), so every term can be summed
// mod 2**16: the kernel sums hi, lo >> k and lo >> (k - 1) separately in wrapping int16
// lanes (one vector of 16-bit lanes holds many samples) and combines them once per output,
// in int64, with the bias; `finish` then wraps the sum to W bits. Other quantisation modes
// and saturating accumulators stay on the int32 / int64 lanes.
#if HEPINFER_ISA >= 2 && defined(__AVX512BW__)
constexpr int VBYTES = 64, VREGS = 32;
#elif HEPINFER_ISA >= 1 && defined(__AVX2__)
constexpr int VBYTES = 32, VREGS = 16;
#else
constexpr int VBYTES = 16, VREGS = 16;  // portable: GCC vector extensions (SSE2 on x86-64)
#endif
typedef uint16_t u16v __attribute__((vector_size(VBYTES)));
typedef int16_t i16v __attribute__((vector_size(VBYTES)));
typedef uint32_t u32v __attribute__((vector_size(VBYTES)));
typedef uint16_t u16v_unaligned __attribute__((vector_size(VBYTES), aligned(2)));
constexpr int64_t VLANES = VBYTES / 2;
constexpr int64_t NVEC = TILE / VLANES;  // vectors per tile of samples

enum NarrowMode { N_LEFT = 0, N_TRN = 1, N_RND = 2 };

// the high halves of the signed 16 x 16-bit products
inline u16v mulhi(u16v a, u16v b) {
#if HEPINFER_ISA >= 2 && defined(__AVX512BW__)
  return u16v(_mm512_mulhi_epi16(__m512i(a), __m512i(b)));
#elif HEPINFER_ISA >= 1 && defined(__AVX2__)
  return u16v(_mm256_mulhi_epi16(__m256i(a), __m256i(b)));
#else
  typedef int32_t i32v __attribute__((vector_size(VBYTES * 2)));
  const i32v p = __builtin_convertvector(i16v(a), i32v) * __builtin_convertvector(i16v(b), i32v);
  return u16v(__builtin_convertvector(p >> 16, i16v));
#endif
}

// the rounded high halves, floor((a b + 2**14) / 2**15) mod 2**16
inline u16v mulhrs(u16v a, u16v b) {
#if HEPINFER_ISA >= 2 && defined(__AVX512BW__)
  return u16v(_mm512_mulhrs_epi16(__m512i(a), __m512i(b)));
#elif HEPINFER_ISA >= 1 && defined(__AVX2__)
  return u16v(_mm256_mulhrs_epi16(__m256i(a), __m256i(b)));
#else
  typedef int32_t i32v __attribute__((vector_size(VBYTES * 2)));
  const i32v p = __builtin_convertvector(i16v(a), i32v) * __builtin_convertvector(i16v(b), i32v);
  return u16v(__builtin_convertvector((p + (1 << 14)) >> 15, i16v));
#endif
}

inline int narrow_mode(const Layer& L) {
  if (L.shift <= 0) return N_LEFT;
  return L.acc.quant == RND ? N_RND : N_TRN;
}

// outputs per block: their sums (NVEC vectors each, one sum per term) stay in registers
constexpr int64_t narrow_block_of(int mode) {
  const int64_t terms = mode == N_LEFT ? 1 : mode == N_TRN ? 2 : 3;
  const int64_t nb = (VREGS / 4) / (NVEC * terms);
  return nb < 1 ? 1 : nb > 8 ? 8 : nb;
}

inline int64_t narrow_block(const Layer& L) { return narrow_block_of(narrow_mode(L)); }

// whether the wrapped sums are the layer's outputs up to a ReLU: the result cast and the
// activation's cast change no value of the accumulator's range, which fits int16
inline bool contains(const Type& t, int64_t lo, int64_t hi) { return t.lo <= lo && hi <= t.hi; }

bool narrow_fast(const Layer& L) {
  if (!L.acc.is_signed && L.acc.width > 15) return false;
  if (L.has_res && (L.res_shift != 0 || !contains(L.res, L.acc.lo, L.acc.hi))) return false;
  if (!L.has_relu) return true;
  if (!L.has_res || L.relu_shift != 0) return false;
  const int64_t lo = L.relu_kind == 1 ? std::max<int64_t>(L.acc.lo, 0) : L.acc.lo;
  return contains(L.relu, lo, L.acc.hi);
}

// A weight w allows one multiply when its product cast is the high half of x * (w << up),
// exact in 32 bits: TRN: mulhi(x, w << (16 - k)) = floor(x w / 2**k); RND (the rounding
// high half, (x w' + 2**14) >> 15): mulhrs(x, w << (15 - k)) = floor((x w + 2**(k-1)) / 2**k)
inline int narrow_up(const Layer& L) {
  const int mode = narrow_mode(L);
  return mode == N_TRN ? 16 - L.shift : mode == N_RND ? 15 - L.shift : -1;
}

void narrow_layer(Layer& L, const int64_t* w) {
  const int64_t n = L.n_in, m = L.n_out, nb = narrow_block(L), blocks = (m + nb - 1) / nb;
  const int up = narrow_up(L);
  auto pair = [](int64_t v) { return uint32_t(uint16_t(v)) * 0x10001u; };
  L.w16.clear();
  L.i16.clear();
  L.e16.clear();
  for (int64_t blk = 0; blk < blocks; ++blk) {
    std::vector<int64_t> one, two;  // the inputs of each kind
    for (int64_t i = 0; i < n; ++i) {
      bool zero = true, small = up >= 0;
      for (int64_t c = blk * nb; c < std::min(m, blk * nb + nb); ++c) {
        const int64_t v = w[i * m + c];
        zero &= v == 0;
        small &= up >= 0 && v >= -(int64_t(1) << (15 - up)) && v < (int64_t(1) << (15 - up));
      }
      if (!zero) (small ? one : two).push_back(i);
    }
    L.e16.push_back(int64_t(L.i16.size()));
    L.e16.push_back(int64_t(L.i16.size() + one.size()));
    for (int kind = 0; kind < 2; ++kind)
      for (int64_t i : kind == 0 ? one : two) {
        L.i16.push_back(int32_t(i));
        for (int64_t j = 0; j < nb; ++j) {
          const int64_t c = blk * nb + j;
          const int64_t v = c < m ? w[i * m + c] : 0;  // the last block padded with zeros
          L.w16.push_back(pair(kind == 0 ? v * (int64_t(1) << up) : v));
        }
      }
  }
  L.e16.push_back(int64_t(L.i16.size()));
}

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
  if (L.lanes == 16) {
    narrow_layer(L, w);
    L.fast = narrow_fast(L);
  } else if (L.lanes == 32) {
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

// The sums of a tile of int16 inputs xt (n_in x TILE), NB outputs at a time (see above).
// Into acc_out[c * TILE + t] (int64, bias included, not yet wrapped) when out16 is null;
// else finished (`Layer::fast`: the wrap to W bits and a ReLU; the casts are identities)
// into out16[c * TILE + t].
template <int MODE>
void narrow_sums(const Layer& L, const int16_t* __restrict xt, int64_t* __restrict acc_out,
                 int16_t* __restrict out16) {
  constexpr int64_t NB = narrow_block_of(MODE);
  const int64_t m = L.n_out;
  const int k = L.shift;
  const uint32_t* wb = L.w16.data();
  for (int64_t c0 = 0; c0 < m; c0 += NB) {
    u16v hs[NB][NVEC], a[NB][NVEC], b[NB][NVEC];  // sums of hi, lo >> k, lo >> (k - 1)
    for (int64_t j = 0; j < NB; ++j)
      for (int64_t v = 0; v < NVEC; ++v) hs[j][v] = a[j][v] = b[j][v] = u16v{};
    const int64_t blk = c0 / NB, e0 = L.e16[size_t(2 * blk)], e1 = L.e16[size_t(2 * blk + 1)];
    const int64_t e2 = L.e16[size_t(2 * blk + 2)];
    for (int64_t e = e0; e < e1; ++e) {  // one multiply: the product cast is its high half
      const int16_t* xi = xt + int64_t(L.i16[size_t(e)]) * TILE;
      u16v x[NVEC];
      for (int64_t v = 0; v < NVEC; ++v)
        x[v] = *reinterpret_cast<const u16v_unaligned*>(xi + v * VLANES);
      for (int64_t j = 0; j < NB; ++j) {
        const u16v w = u16v(u32v{} + wb[e * NB + j]);
        for (int64_t v = 0; v < NVEC; ++v) {
          if (MODE == N_RND)
            b[j][v] += mulhrs(x[v], w);
          else
            a[j][v] += mulhi(x[v], w);
        }
      }
    }
    for (int64_t e = e1; e < e2; ++e) {
      const int16_t* xi = xt + int64_t(L.i16[size_t(e)]) * TILE;
      u16v x[NVEC];
      for (int64_t v = 0; v < NVEC; ++v)
        x[v] = *reinterpret_cast<const u16v_unaligned*>(xi + v * VLANES);
      for (int64_t j = 0; j < NB; ++j) {
        const u16v w = u16v(u32v{} + wb[e * NB + j]);
        for (int64_t v = 0; v < NVEC; ++v) {
          const u16v lo = x[v] * w;
          if (MODE == N_LEFT) {
            a[j][v] += lo;
          } else {
            hs[j][v] += mulhi(x[v], w);
            a[j][v] += lo >> k;
            if (MODE == N_RND) b[j][v] += lo >> (k - 1);
          }
        }
      }
    }
    for (int64_t j = 0; j < NB && c0 + j < m; ++j) {
      if (out16 != nullptr) {  // the wrapping sums, the wrap to W bits and the ReLU in lanes
        const u16v bias = u16v{} + uint16_t(L.bias[c0 + j]);
        const int up = int(16 - L.acc.width);
        for (int64_t v = 0; v < NVEC; ++v) {
          u16v sum;
          if (MODE == N_LEFT)
            sum = -k >= 16 ? u16v{} : u16v(a[j][v] << -k);
          else if (MODE == N_TRN)
            sum = (hs[j][v] << (16 - k)) + a[j][v];
          else
            sum = (hs[j][v] << (16 - k)) + b[j][v] - a[j][v];
          sum += bias;
          i16v r = L.acc.is_signed ? i16v(sum << up) >> up : i16v((sum << up) >> up);
          if (L.relu_kind == 1) r = r > 0 ? r : i16v{};
          *reinterpret_cast<u16v_unaligned*>(out16 + (c0 + j) * TILE + v * VLANES) = u16v(r);
        }
        continue;
      }
      alignas(64) int16_t hv[TILE], av[TILE], bv[TILE];
      for (int64_t v = 0; v < NVEC; ++v) {
        *reinterpret_cast<u16v_unaligned*>(hv + v * VLANES) = hs[j][v];
        *reinterpret_cast<u16v_unaligned*>(av + v * VLANES) = a[j][v];
        *reinterpret_cast<u16v_unaligned*>(bv + v * VLANES) = b[j][v];
      }
      const int64_t bias = L.bias[c0 + j];
      int64_t* o = acc_out + (c0 + j) * TILE;
      for (int64_t t = 0; t < TILE; ++t) {
        const uint64_t h = uint64_t(int64_t(hv[t])), lo_k = uint64_t(int64_t(av[t]));
        uint64_t sum;
        if (MODE == N_LEFT)
          sum = lo_k << -k;  // -k < 32 (the plan)
        else if (MODE == N_TRN)
          sum = (h << (16 - k)) + lo_k;
        else
          sum = (h << (16 - k)) + uint64_t(int64_t(bv[t])) - lo_k;
        o[t] = int64_t(uint64_t(bias) + sum);  // congruent mod 2**16: `finish` wraps it
      }
    }
  }
}

void narrow_sums_any(const Layer& L, const int16_t* xt, int64_t* acc_out, int16_t* out16) {
  switch (narrow_mode(L)) {
    case N_LEFT: return narrow_sums<N_LEFT>(L, xt, acc_out, out16);
    case N_TRN: return narrow_sums<N_TRN>(L, xt, acc_out, out16);
    default: return narrow_sums<N_RND>(L, xt, acc_out, out16);
  }
}

struct Scratch {
  std::vector<int64_t> a, b;  // TILE x width, row-major (layer inputs / outputs)
  std::vector<int64_t> acc;   // width x TILE
  std::vector<int32_t> x32;   // width x TILE
  std::vector<int16_t> x16, y16, p16, q16;  // lanes 16: width x TILE inputs, outputs
  std::vector<int64_t> x64;
  std::vector<int64_t> cols, pix;  // programs' convolutions: TILE patches, TILE pixels out
  std::vector<int64_t> rows = std::vector<int64_t>(TILE);  // one value per row (softmax sums)
};

// the accumulators' wrap, the result cast and the fused activation, in place
void finish(const Layer& L, int64_t* acc, int64_t count) {
  if (L.acc.overflow == WRAP)  // the modular sum, wrapped to the accumulator's width
    for (int64_t e = 0; e < count; ++e) acc[e] = wrap(acc[e], L.acc.width, L.acc.is_signed);
  if (L.has_res) cast_block_any(acc, count, L.res_shift, L.res);
  if (L.has_relu) {
    if (L.relu_kind == 1)
      for (int64_t e = 0; e < count; ++e) acc[e] = std::max<int64_t>(acc[e], 0);
    cast_block_any(acc, count, L.relu_shift, L.relu);
  }
}

// a lanes-16 layer on a tile: from in64 (TILE x n_in) or, if null, in16 (n_in x TILE, int16),
// to out64 (TILE x n_out) or, if null, out16 (n_out x TILE, int16: the outputs fit)
void narrow_layer_tile(const Layer& L, const int64_t* in64, const int16_t* in16, int64_t* out64,
                       int16_t* out16, Scratch& s) {
  const int64_t n = L.n_in, m = L.n_out;
  if (in64 != nullptr) {
    int16_t* xt = s.x16.data();
    for (int64_t t = 0; t < TILE; ++t)
      for (int64_t i = 0; i < n; ++i) xt[i * TILE + t] = int16_t(in64[t * n + i]);
    in16 = xt;
  }
  if (L.fast) {
    int16_t* yt = out16 != nullptr ? out16 : s.y16.data();
    narrow_sums_any(L, in16, nullptr, yt);
    if (out64 != nullptr)
      for (int64_t t = 0; t < TILE; ++t)
        for (int64_t c = 0; c < m; ++c) out64[t * m + c] = yt[c * TILE + t];
    return;
  }
  int64_t* acc = s.acc.data();
  narrow_sums_any(L, in16, acc, nullptr);
  finish(L, acc, m * TILE);
  if (out16 != nullptr) {
    for (int64_t e = 0; e < m * TILE; ++e) out16[e] = int16_t(acc[e]);
  } else {
    for (int64_t t = 0; t < TILE; ++t)
      for (int64_t c = 0; c < m; ++c) out64[t * m + c] = acc[c * TILE + t];
  }
}

// one layer on a tile: in (TILE x n_in) -> out (TILE x n_out)
void layer_tile(const Layer& L, const int64_t* in, int64_t* out, Scratch& s) {
  const int64_t n = L.n_in, m = L.n_out;
  if (L.lanes == 16) return narrow_layer_tile(L, in, nullptr, out, nullptr, s);
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
  finish(L, acc, m * TILE);
  for (int64_t t = 0; t < TILE; ++t)
    for (int64_t c = 0; c < m; ++c) out[t * m + c] = acc[c * TILE + t];
}

// a lanes-16 layer on the tile in s.a (or s.p16 if in16): to s.q16, swapped into s.p16, when
// next16 (returns true), else to s.b (returns false)
bool tile16(const Layer& L, bool next16, bool in16, Scratch& s) {
  narrow_layer_tile(L, in16 ? nullptr : s.a.data(), in16 ? s.p16.data() : nullptr,
                    next16 ? nullptr : s.b.data(), next16 ? s.q16.data() : nullptr, s);
  if (next16) std::swap(s.p16, s.q16);
  return next16;
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
  for (auto* v : {&s.x16, &s.y16, &s.p16, &s.q16}) v->assign(TILE * width, 0);
  s.x64.assign(TILE * width, 0);
  const int64_t n0 = layers.front().n_in, m_last = layers.back().n_out;
  for (int64_t r = b0; r < b1; r += TILE) {
    const int64_t rows = std::min(TILE, b1 - r);
    std::copy(x + r * n0, x + (r + rows) * n0, s.a.data());
    if (rows < TILE) std::fill(s.a.data() + rows * n0, s.a.data() + TILE * n0, 0);
    bool in16 = false;  // the values are in s.p16 (int16, n x TILE), not s.a
    for (size_t l = 0; l < layers.size(); ++l) {
      const Layer& L = layers[l];
      if (L.lanes == 16) {  // consecutive lanes-16 layers pass int16 (n x TILE) values
        const bool next16 = l + 1 < layers.size() && layers[l + 1].lanes == 16;
        in16 = tile16(L, next16, in16, s);
        if (in16) continue;
      } else {
        layer_tile(L, s.a.data(), s.b.data(), s);
      }
      std::swap(s.a, s.b);
    }
    std::copy(s.a.data(), s.a.data() + rows * m_last, y + r * m_last);
  }
}


// ------------------------------------------------------------------ one row at a time
// The same sums for a single row (a batch of one, a short tail): the outputs are the vector
// lanes instead of the rows. acc[c] starts from the bias; the input order i is the same.
template <typename T, int Q, int O>
void row_sums(const Layer& L, const T* w, const int64_t* x, T* __restrict acc) {
  using U = std::make_unsigned_t<T>;
  const int64_t n = L.n_in, m = L.n_out;
  const T lo = T(L.acc.lo), hi = T(L.acc.hi);
  const int k = L.shift;
  for (int64_t c = 0; c < m; ++c) acc[c] = T(L.bias[c]);
  for (int64_t i = 0; i < n; ++i) {
    const T xv = T(x[i]);
    if (O == WRAP && xv == 0) continue;  // adds quantise(0) = 0
    const T* __restrict wi = w + i * m;
    for (int64_t c = 0; c < m; ++c) {
      const T p = T(xv * wi[c]);
      if (O == WRAP) {
        const U q = Q == LEFT ? U(U(p) << -k) : U(quantise<Q>(p, k));
        acc[c] = T(U(U(acc[c]) + q));
      } else {
        const T q = overflow<O>(Q == LEFT ? T(U(p) << -k) : quantise<Q>(p, k), lo, hi);
        acc[c] = overflow<O>(T(acc[c] + q), lo, hi);
      }
    }
  }
}

template <typename T, int Q>
void row_sums_o(const Layer& L, const T* w, const int64_t* x, T* acc) {
  switch (L.acc.overflow) {
    case WRAP: return row_sums<T, Q, WRAP>(L, w, x, acc);
    case SAT_ZERO: return row_sums<T, Q, SAT_ZERO>(L, w, x, acc);
    default: return row_sums<T, Q, SAT>(L, w, x, acc);
  }
}

template <typename T>
void row_sums_any(const Layer& L, const T* w, const int64_t* x, T* acc) {
  if (L.shift <= 0) return row_sums_o<T, LEFT>(L, w, x, acc);
  switch (L.acc.quant) {
    case TRN: return row_sums_o<T, TRN>(L, w, x, acc);
    case TRN_ZERO: return row_sums_o<T, TRN_ZERO>(L, w, x, acc);
    case RND: return row_sums_o<T, RND>(L, w, x, acc);
    case RND_ZERO: return row_sums_o<T, RND_ZERO>(L, w, x, acc);
    case RND_INF: return row_sums_o<T, RND_INF>(L, w, x, acc);
    case RND_MIN_INF: return row_sums_o<T, RND_MIN_INF>(L, w, x, acc);
    default: return row_sums_o<T, RND_CONV>(L, w, x, acc);
  }
}

// one layer on one row: in (n_in) -> out (n_out)
void layer_row(const Layer& L, const int64_t* in, int64_t* out, Scratch& s) {
  const int64_t m = L.n_out;
  if (L.lanes != 64) {  // lanes 16: single rows in int32 lanes (the plan checks they fit)
    int32_t* acc = s.x32.data();
    row_sums_any<int32_t>(L, L.r32.data(), in, acc);
    for (int64_t c = 0; c < m; ++c) out[c] = acc[c];
  } else {
    row_sums_any<int64_t>(L, L.r64.data(), in, out);
  }
  finish(L, out, m);
}

// ------------------------------------------------------------------ scalar casts
// ap_fixed(double): x * scale (= 2**frac) quantised and overflowed exactly in double, as
// hepinfer.fixed.cast's float kernel (t.width <= 53, no saturation bits)
int64_t from_double(double x, double scale, int frac, const Type& t) {
  double s = x * scale;
  if (!std::isfinite(s)) s = std::copysign(0x1p1000, s);  // NaN, inf: huge of their sign
  if (frac < 0 && t.quant == TRN && s == 0.0 && x < 0.0) s = -0.25;
  const double lo = double(t.lo), hi = double(t.hi);
  if (t.overflow == SAT || t.overflow == SAT_SYM) s = std::min(std::max(s, lo), hi);
  switch (t.quant) {
    case TRN: s = std::floor(s); break;
    case TRN_ZERO: s = std::trunc(s); break;
    case RND_CONV: s = std::nearbyint(s); break;
    default: {
      const double r = std::nearbyint(s), e = s - r;  // both exact, |e| <= 1/2
      double q = r;
      if (t.quant == RND) {
        if (e == 0.5) q += 1;
      } else if (t.quant == RND_MIN_INF) {
        if (e == -0.5) q -= 1;
      } else if (t.quant == RND_ZERO) {
        if (e == 0.5 && r < 0) q += 1;
        if (e == -0.5 && r > 0) q -= 1;
      } else {  // RND_INF
        if (e == 0.5 && r >= 0) q += 1;
        if (e == -0.5 && r <= 0) q -= 1;
      }
      s = q;
    }
  }
  if (s < lo || s > hi) {
    if (t.overflow == WRAP) {
      const double mod = std::ldexp(1.0, int(t.width));
      double r = std::fmod(s, mod);
      if (r < 0) r += mod;
      if (t.is_signed && r >= std::ldexp(1.0, int(t.width - 1))) r -= mod;
      s = r;
    } else if (t.overflow == SAT_ZERO) {
      s = 0.0;
    }
  }
  return int64_t(s);
}

// ------------------------------------------------------------------ programs
struct Program;
void from_doubles(const double* x, int64_t* m, int64_t count, const Program& P);

// A program: the whole graph (or a linear run of its nodes) bound once, run many times.
// Steps act on one row (one sample) or a tile of rows, in order; each reads the previous
// step's output. Descriptor: PROGRAM_FIELDS int64 per step (see hepinfer.emulate.program).
constexpr int64_t PROGRAM_FIELDS = 40;
enum Kind { K_DENSE = 1, K_CAST = 2, K_SOFTMAX = 3, K_CONV = 4, K_LUT = 5, K_SCALE = 6, K_QUANT = 7,
           K_TABLE = 8 };

struct Step {
  int64_t kind = 0, n_in = 0, n_out = 0;
  Layer layer;  // K_DENSE, K_CONV (the Dense kernel of one output pixel)
  // K_CONV geometry (channels last; Conv1D as height 1): input, kernel, strides, dilations,
  // padding (top, left), output; the patch of one output pixel is (k_h, k_w, c) in order
  int64_t in_h = 0, in_w = 0, chan = 0, k_h = 0, k_w = 0, st_h = 0, st_w = 0, dl_h = 0,
          dl_w = 0, pad_t = 0, pad_l = 0, out_h = 0, out_w = 0;
  std::vector<int32_t> patch;  // per output pixel, its K input offsets (-1: padding), if small
  // K_CAST: optional max(v, 0), then the cast of v (shift more fractional bits) to t
  int64_t relu = 0;
  int shift = 0;
  Type t;
  // K_SOFTMAX (hepinfer.ops.softmax): row length n, stable or latency
  int64_t stable = 0, exp_w = 0, exp_bits = 0, inv_w = 0, inv_bits = 0;
  int norm_shift = 0, acc_shift = 0, inv_shift = 0, out_shift = 0;
  Type norm, acc, inv, out;
  std::vector<int64_t> exp_tab, inv_tab;
  // K_LUT (hepinfer.ops.lut): index sign(m) * (|m| * num >> down) + size / 2, clipped, into
  // exp_tab (the table already cast to the result type)
  int64_t num = 0, down = 0, size = 0;
  // K_SCALE (hepinfer.ops.batchnorm): (m * exp_tab[j] << shift) + inv_tab[j] (the bias at the
  // sum's fractional bits), cast to t (out_shift more fractional bits) per element j of a row
  // K_QUANT (hepinfer.ops.fixed_point_quantizer): per element j of a row, exp_tab[4 j ..]
  // = (bits dropped, width, lowest, highest mantissa); `stable`: RND, `relu`: saturate,
  // `shift`: the output's minus the input's fractional bits
  // K_TABLE (hepinfer.ops.unary_lut): exp_tab[(m >> down) & (size - 1)] (`<< -down` when
  // negative), the table already cast to the result type
};

struct Program {
  int64_t n_in = 0, n_out = 0, width = 0;
  int64_t tile = TILE;    // samples per tile (fewer where one sample is large)
  int64_t lwidth = 0;     // the widest Dense / convolution kernel side
  int64_t in_double = 0, out_double = 0;  // doubles in (cast to in_t) / doubles out
  int in_frac = 0, out_frac = 0;
  double in_scale = 1, out_scale = 1;
  Type in_t;
  std::vector<Step> steps;
};

inline int64_t index_bits(int64_t m, int64_t width, int64_t bits) {
  const int64_t pattern = m & int64_t((uint64_t(1) << width) - 1);
  const int64_t shift = width - bits;
  return shift >= 0 ? pattern >> shift : pattern << -shift;
}

// block by block (one cast call per block of values, not per value): the same casts, in the
// same order, as hepinfer.ops.softmax
void softmax_rows(const Step& S, const int64_t* in, int64_t* out, int64_t rows, Scratch& s) {
  const int64_t n = S.n_in, count = rows * n;
  int64_t* y = out;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t* x = in + r * n;
    int64_t top = x[0];
    for (int64_t j = 1; j < n; ++j) top = std::max(top, x[j]);
    for (int64_t j = 0; j < n; ++j) y[r * n + j] = S.stable ? top - x[j] : x[j];
  }
  if (S.stable) cast_block_any(y, count, S.norm_shift, S.norm);
  for (int64_t e = 0; e < count; ++e) y[e] = S.exp_tab[index_bits(y[e], S.exp_w, S.exp_bits)];
  cast_block_any(y, count, S.acc_shift, S.acc);
  int64_t* inv = s.rows.data();
  for (int64_t r = 0; r < rows; ++r) {
    int64_t total = 0;
    for (int64_t j = 0; j < n; ++j) total += y[r * n + j];
    inv[r] = total;
  }
  cast_block_any(inv, rows, 0, S.acc);
  cast_block_any(inv, rows, S.inv_shift, S.inv);
  for (int64_t r = 0; r < rows; ++r) inv[r] = S.inv_tab[index_bits(inv[r], S.inv_w, S.inv_bits)];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) y[r * n + j] *= inv[r];
  cast_block_any(y, count, S.out_shift, S.out);
}

// the convolution of `rows` samples: im2col patches of TILE (sample, output pixel) pairs at a
// time, each block through the tiled Dense kernel (a short last block padded with zero
// patches); the outputs of pair q lie at y + q * c_out for every sample
void conv_rows(const Step& S, const int64_t* x, int64_t* y, int64_t rows, Scratch& s) {
  const Layer& L = S.layer;
  const int64_t K = L.n_in, m = L.n_out, n_pix = S.out_h * S.out_w, total = rows * n_pix;
  int64_t* cols = s.cols.data();
  for (int64_t q0 = 0; q0 < total; q0 += TILE) {
    const int64_t count = std::min(TILE, total - q0);
    for (int64_t t = 0; t < TILE; ++t) {
      int64_t* col = cols + t * K;
      if (t >= count) {
        std::fill(col, col + K, 0);
        continue;
      }
      const int64_t r = (q0 + t) / n_pix, p = (q0 + t) % n_pix;
      const int64_t* xr = x + r * S.n_in;
      if (!S.patch.empty()) {
        const int32_t* off = S.patch.data() + p * K;
        for (int64_t k = 0; k < K; ++k) col[k] = off[k] < 0 ? 0 : xr[off[k]];
        continue;
      }
      const int64_t oy = p / S.out_w, ox = p % S.out_w;
      for (int64_t ky = 0; ky < S.k_h; ++ky) {
        const int64_t iy = oy * S.st_h + ky * S.dl_h - S.pad_t;
        for (int64_t kx = 0; kx < S.k_w; ++kx) {
          const int64_t ix = ox * S.st_w + kx * S.dl_w - S.pad_l;
          int64_t* dst = col + (ky * S.k_w + kx) * S.chan;
          if (iy < 0 || iy >= S.in_h || ix < 0 || ix >= S.in_w)
            std::fill(dst, dst + S.chan, 0);
          else
            std::copy_n(xr + (iy * S.in_w + ix) * S.chan, S.chan, dst);
        }
      }
    }
    if (count == TILE) {
      layer_tile(L, cols, y + q0 * m, s);
    } else {
      layer_tile(L, cols, s.pix.data(), s);
      std::copy_n(s.pix.data(), count * m, y + q0 * m);
    }
  }
}

// a table activation on `count` values (the index arithmetic of hepinfer.ops.lut.table_index)
void lut_values(const Step& S, const int64_t* in, int64_t* out, int64_t count) {
  const uint64_t num = uint64_t(S.num);
  const int64_t half = S.size / 2, last = S.size - 1;
  const int64_t* tab = S.exp_tab.data();
  for (int64_t e = 0; e < count; ++e) {
    const int64_t m = in[e];
    const uint64_t mag = uint64_t(m < 0 ? -m : m) * num;
    const int64_t q = int64_t(S.down >= 0 ? mag >> S.down : mag << -S.down);
    out[e] = tab[std::min(std::max((m < 0 ? -q : q) + half, int64_t(0)), last)];
  }
}

// BatchNormalization's scale and shift on `rows` rows, then the result cast
void scale_rows(const Step& S, const int64_t* in, int64_t* out, int64_t rows) {
  const int64_t n = S.n_in;
  const int64_t *s = S.exp_tab.data(), *b = S.inv_tab.data();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j)
      out[r * n + j] = int64_t(uint64_t(in[r * n + j] * s[j]) << S.shift) + b[j];
  cast_block_any(out, rows * n, S.out_shift, S.t);
}

// HGQ2's per-element quantiser on `rows` rows (hepinfer.ops.fixed_point_quantizer.run_fixed)
void quant_rows(const Step& S, const int64_t* in, int64_t* out, int64_t rows) {
  const int64_t n = S.n_in;
  const int64_t* p = S.exp_tab.data();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) {
      const int64_t drop = p[4 * j], width = p[4 * j + 1], lo = p[4 * j + 2], hi = p[4 * j + 3];
      int64_t q = in[r * n + j];
      if (width <= 0) {
        out[r * n + j] = 0;
        continue;
      }
      if (drop > 0) {
        if (S.stable) q += int64_t(1) << (drop - 1);
        q >>= drop;
      } else if (drop < 0) {
        q = int64_t(uint64_t(q) << -drop);
      }
      if (S.relu)
        q = std::min(std::max(q, lo), hi);
      else
        q = int64_t(uint64_t(q - lo) & ((uint64_t(1) << width) - 1)) + lo;
      out[r * n + j] = int64_t(uint64_t(q) << (S.shift + drop));
    }
}

// a table on every input value (hepinfer.ops.unary_lut.run_fixed) on `count` values
void table_values(const Step& S, const int64_t* in, int64_t* out, int64_t count) {
  const int64_t* tab = S.exp_tab.data();
  const uint64_t mask = uint64_t(S.size - 1);
  for (int64_t e = 0; e < count; ++e) {
    const int64_t m = in[e];
    const int64_t code = S.down >= 0 ? m >> S.down : int64_t(uint64_t(m) << -S.down);
    out[e] = tab[uint64_t(code) & mask];
  }
}

// rows of the program's current values: in (rows x n_in) -> out (rows x n_out)
void run_step(const Step& S, const int64_t* in, int64_t* out, int64_t rows, Scratch& s) {
  if (S.kind == K_CONV) {
    conv_rows(S, in, out, rows, s);
  } else if (S.kind == K_DENSE) {
    if (rows == TILE) return layer_tile(S.layer, in, out, s);
    for (int64_t r = 0; r < rows; ++r)
      layer_row(S.layer, in + r * S.n_in, out + r * S.n_out, s);
  } else if (S.kind == K_CAST) {
    const int64_t count = rows * S.n_in;
    if (S.relu)
      for (int64_t e = 0; e < count; ++e) out[e] = std::max<int64_t>(in[e], 0);
    else
      std::copy(in, in + count, out);
    cast_block_any(out, count, S.shift, S.t);
  } else if (S.kind == K_LUT) {
    lut_values(S, in, out, rows * S.n_in);
  } else if (S.kind == K_SCALE) {
    scale_rows(S, in, out, rows);
  } else if (S.kind == K_QUANT) {
    quant_rows(S, in, out, rows);
  } else if (S.kind == K_TABLE) {
    table_values(S, in, out, rows * S.n_in);
  } else {
    softmax_rows(S, in, out, rows, s);
  }
}

void ensure(Scratch& s, const Program& P) {
  const size_t values = size_t(P.tile * P.width), kernel = size_t(TILE * P.lwidth);
  if (s.a.size() < values) {
    s.a.assign(values, 0);
    s.b.assign(values, 0);
  }
  if (s.acc.size() < kernel) {
    s.acc.assign(kernel, 0);
    s.x32.assign(kernel, 0);
    for (auto* v : {&s.x16, &s.y16, &s.p16, &s.q16}) v->assign(kernel, 0);
    s.x64.assign(kernel, 0);
    s.cols.assign(kernel, 0);
    s.pix.assign(kernel, 0);
  }
}

// from_double on a block where every value is finite and below 2**62 after scaling: TRN
// (floor) or RND_CONV (nearest even), then WRAP or SAT (clamped in double first, as
// from_double), in one vectorisable pass with the same bits
template <bool NEAREST, bool SAT>
void from_doubles_fast(const double* __restrict x, int64_t* __restrict m, int64_t count,
                       double scale, const Type& t) {
  const double lo = double(t.lo), hi = double(t.hi);
  const int sh = int(64 - t.width);
  // the wrap: signed, shift up then arithmetic shift down; unsigned: mask
  const int down = t.is_signed ? sh : 0;
  const uint64_t mask = t.is_signed ? ~uint64_t(0) : (~uint64_t(0) >> sh);
  for (int64_t e = 0; e < count; ++e) {
    double v = x[e] * scale;
    if (SAT) v = std::min(std::max(v, lo), hi);
    int64_t q;
    if (NEAREST) {
      q = int64_t(std::nearbyint(v));
    } else {  // floor: truncate, one less where that rounded up (exact: |v| < 2**62)
      q = int64_t(v);
      q -= int64_t(double(q) > v);
    }
    m[e] = SAT ? q : int64_t(uint64_t(int64_t((uint64_t(q) << down)) >> down) & mask);
  }
}

void from_doubles(const double* x, int64_t* m, int64_t count, const Program& P) {
  const Type& t = P.in_t;
  const double scale = P.in_scale;
  bool fast = P.in_frac >= 0 && (t.quant == TRN || t.quant == RND_CONV) && t.overflow != SAT_ZERO;
  if (fast) {
    int64_t bad = 0;  // NaN, infinities, huge values: from_double's path
    for (int64_t e = 0; e < count; ++e) bad += !(std::fabs(x[e] * scale) < 0x1p62);
    fast = bad == 0;
  }
  if (!fast) {
    for (int64_t e = 0; e < count; ++e) m[e] = from_double(x[e], scale, P.in_frac, t);
    return;
  }
  const bool sat = t.overflow != WRAP;
  if (t.quant == TRN)
    return sat ? from_doubles_fast<false, true>(x, m, count, scale, t)
               : from_doubles_fast<false, false>(x, m, count, scale, t);
  return sat ? from_doubles_fast<true, true>(x, m, count, scale, t)
             : from_doubles_fast<true, false>(x, m, count, scale, t);
}

void program_rows(const Program& P, const void* x, void* y, int64_t b0, int64_t b1) {
  thread_local Scratch s;
  ensure(s, P);
  const int64_t n0 = P.n_in, m = P.n_out;
  for (int64_t r = b0; r < b1; r += P.tile) {
    // a whole tile through the tiled kernels; a short tail row by row (up to 8 rows), or
    // padded with zero rows to a tile
    const int64_t rows = std::min(P.tile, b1 - r);
    const int64_t run = rows > 8 ? P.tile : rows;
    int64_t* a = s.a.data();
    if (P.in_double) {
      from_doubles(static_cast<const double*>(x) + r * n0, a, rows * n0, P);
    } else {
      const int64_t* xm = static_cast<const int64_t*>(x) + r * n0;
      std::copy(xm, xm + rows * n0, a);
    }
    if (run > rows) std::fill(a + rows * n0, a + run * n0, 0);
    bool in16 = false;  // the values are in s.p16 (int16, n x TILE), not s.a
    for (const Step& S : P.steps) {
      if (run == TILE && S.kind == K_DENSE && S.layer.lanes == 16) {
        in16 = tile16(S.layer, S.layer.next16, in16, s);
        if (in16) continue;
      } else {
        run_step(S, s.a.data(), s.b.data(), run, s);
      }
      std::swap(s.a, s.b);
    }
    const int64_t* v = s.a.data();
    if (P.out_double) {
      double* yd = static_cast<double*>(y) + r * m;
      for (int64_t e = 0; e < rows * m; ++e) yd[e] = double(v[e]) * P.out_scale;
    } else {
      std::copy(v, v + rows * m, static_cast<int64_t*>(y) + r * m);
    }
  }
}

}  // namespace

extern "C" {

// x: batch x n_in of the first layer (mantissas); y: batch x n_out of the last layer.
// desc: FIELDS int64 per layer: n_in, n_out, lanes (16/32/64), shift, acc {width, signed, quant,
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

// A program from its descriptor (see hepinfer.emulate.program): head = {n_steps, n_in, in_double,
// in_frac, in type {4}, out_double, out_frac}; desc: PROGRAM_FIELDS per step; a[s], b[s]: the
// step's arrays (Dense: weights n_in x n_out, bias n_out; Softmax: exp and inv tables; table
// activations: the table; BatchNormalization: scale and shifted bias per element), copied.
// Returns an opaque handle for hepinfer_program_run, freed with hepinfer_program_free.
void* hepinfer_program_new(const int64_t* head, const int64_t* desc, const int64_t* const* a,
                           const int64_t* const* b) {
  auto* P = new Program();
  const int64_t n_steps = head[0];
  P->n_in = head[1];
  P->in_double = head[2];
  P->in_frac = int(head[3]);
  P->in_t = make_type(head + 4);
  P->out_double = head[8];
  P->out_frac = int(head[9]);
  P->in_scale = std::ldexp(1.0, P->in_frac);
  P->out_scale = std::ldexp(1.0, -P->out_frac);
  P->width = P->n_in;
  P->steps.resize(size_t(n_steps));
  for (int64_t k = 0; k < n_steps; ++k) {
    const int64_t* d = desc + k * PROGRAM_FIELDS;
    Step& S = P->steps[size_t(k)];
    S.kind = d[0];
    S.n_in = d[1];
    S.n_out = d[2];
    if (S.kind == K_DENSE || S.kind == K_CONV) {
      S.layer = make_layer(d + 3, a[k], nullptr);
      if (S.kind == K_CONV) {
        const int64_t* g = d + 3 + FIELDS;
        S.in_h = g[0], S.in_w = g[1], S.chan = g[2], S.k_h = g[3], S.k_w = g[4];
        S.st_h = g[5], S.st_w = g[6], S.dl_h = g[7], S.dl_w = g[8], S.pad_t = g[9];
        S.pad_l = g[10], S.out_h = g[11], S.out_w = g[12];
        const int64_t K = S.layer.n_in, n_pix = S.out_h * S.out_w;
        if (n_pix * K <= (int64_t(1) << 22) && S.n_in < (int64_t(1) << 31)) {
          S.patch.resize(size_t(n_pix * K));
          for (int64_t p = 0; p < n_pix; ++p) {
            const int64_t oy = p / S.out_w, ox = p % S.out_w;
            for (int64_t ky = 0; ky < S.k_h; ++ky)
              for (int64_t kx = 0; kx < S.k_w; ++kx)
                for (int64_t c = 0; c < S.chan; ++c) {
                  const int64_t iy = oy * S.st_h + ky * S.dl_h - S.pad_t;
                  const int64_t ix = ox * S.st_w + kx * S.dl_w - S.pad_l;
                  const bool pad = iy < 0 || iy >= S.in_h || ix < 0 || ix >= S.in_w;
                  S.patch[size_t(p * K + (ky * S.k_w + kx) * S.chan + c)] =
                      pad ? -1 : int32_t((iy * S.in_w + ix) * S.chan + c);
                }
          }
        }
      }
      Layer& L = S.layer;
      const int64_t n = L.n_in * L.n_out;
      if (L.lanes != 64)
        L.r32.assign(a[k], a[k] + n);
      else
        L.r64.assign(a[k], a[k] + n);
      L.own_bias.assign(b[k], b[k] + L.n_out);
      L.bias = L.own_bias.data();
      L.w = nullptr;
    } else if (S.kind == K_CAST) {
      S.relu = d[3];
      S.shift = int(d[4]);
      S.t = make_type(d + 5);
    } else if (S.kind == K_LUT) {
      S.num = d[3];
      S.down = d[4];
      S.size = d[5];
      S.exp_tab.assign(a[k], a[k] + S.size);
    } else if (S.kind == K_TABLE) {
      S.down = d[3];
      S.size = d[4];
      S.exp_tab.assign(a[k], a[k] + S.size);
    } else if (S.kind == K_QUANT) {
      S.stable = d[3];
      S.relu = d[4];
      S.shift = int(d[5]);
      S.exp_tab.assign(a[k], a[k] + 4 * S.n_in);
    } else if (S.kind == K_SCALE) {
      S.shift = int(d[3]);
      S.out_shift = int(d[4]);
      S.t = make_type(d + 5);
      S.exp_tab.assign(a[k], a[k] + S.n_in);
      S.inv_tab.assign(b[k], b[k] + S.n_in);
    } else {
      S.stable = d[4];
      S.norm_shift = int(d[5]);
      S.norm = make_type(d + 6);
      S.exp_w = d[10];
      S.exp_bits = d[11];
      S.acc_shift = int(d[12]);
      S.acc = make_type(d + 13);
      S.inv_shift = int(d[17]);
      S.inv = make_type(d + 18);
      S.inv_w = d[22];
      S.inv_bits = d[23];
      S.out_shift = int(d[24]);
      S.out = make_type(d + 25);
      S.exp_tab.assign(a[k], a[k] + d[29]);
      S.inv_tab.assign(b[k], b[k] + d[30]);
    }
    P->width = std::max({P->width, S.n_in, S.n_out});
    if (S.kind == K_DENSE || S.kind == K_CONV)
      P->lwidth = std::max({P->lwidth, S.layer.n_in, S.layer.n_out});
  }
  for (size_t k = 0; k + 1 < P->steps.size(); ++k) {
    const Step &S = P->steps[k], &next = P->steps[k + 1];
    P->steps[k].layer.next16 = S.kind == K_DENSE && S.layer.lanes == 16 &&
                               next.kind == K_DENSE && next.layer.lanes == 16;
  }
  // samples per tile: a tile of values stays within ~1 MiB (large images: fewer samples)
  P->tile = std::max<int64_t>(1, std::min<int64_t>(TILE, (int64_t(1) << 17) / P->width));
  P->n_out = n_steps ? P->steps.back().n_out : P->n_in;
  return P;
}

void hepinfer_program_free(void* handle) { delete static_cast<Program*>(handle); }

// x: batch x n_in (doubles or mantissas), y: batch x n_out (doubles or mantissas)
int hepinfer_program_run(const void* handle, const void* x, int64_t batch, int64_t threads,
                         void* y) {
  if (handle == nullptr || batch < 0) return 1;
  const Program& P = *static_cast<const Program*>(handle);
  const int64_t tiles = (batch + TILE - 1) / TILE;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, tiles / 16));
  if (parts == 1) {
    program_rows(P, x, y, 0, batch);
    return 0;
  }
  const int64_t step = (tiles + parts - 1) / parts * TILE;
  std::vector<std::thread> pool;
  for (int64_t p = 1; p < parts; ++p) {
    const int64_t b0 = p * step, b1 = std::min(batch, b0 + step);
    if (b0 < b1) pool.emplace_back([&P, x, y, b0, b1] { program_rows(P, x, y, b0, b1); });
  }
  program_rows(P, x, y, 0, std::min(batch, step));
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
