// hepinfer's minimal ap_fixed-compatible header: ap_fixed, ap_ufixed, ap_int, ap_uint for
// declared widths W <= 64 with Xilinx's semantics (all quantisation and overflow modes,
// exact arithmetic with Xilinx's result types, conversion from and to double). It lets
// C simulation run on any machine with g++; synthesis uses the real Vitis HLS headers.
// Intermediate results (products, sums) are held in 128-bit integers.
#ifndef HEPINFER_AP_FIXED_LITE_H
#define HEPINFER_AP_FIXED_LITE_H

#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <type_traits>

#define HEPINFER_AP_TYPES_LITE 1

enum ap_q_mode { AP_RND, AP_RND_ZERO, AP_RND_MIN_INF, AP_RND_INF, AP_RND_CONV, AP_TRN, AP_TRN_ZERO };
enum ap_o_mode { AP_SAT, AP_SAT_ZERO, AP_SAT_SYM, AP_WRAP, AP_WRAP_SM };

namespace ap_lite {

typedef __int128 i128;
typedef unsigned __int128 u128;

template <int W> struct raw {
    typedef typename std::conditional<(W <= 64), long long, i128>::type type;
};

// Low `w` bits of `v`, sign-extended when `s` (1 <= w <= bits of S).
template <class S, class U> __attribute__((always_inline)) inline S wrap_bits(U v, int w, bool s) {
    const int B = 8 * (int)sizeof(S);
    if (w >= B) return (S)v;
    U mask = (((U)1) << w) - 1;
    U low = v & mask;
    if (s && ((low >> (w - 1)) & 1)) return (S)(low | ~mask);
    return (S)low;
}

// Cast mantissa `v` with `sf` fractional bits to a `w`-bit type with `df` fractional bits,
// applying quantisation `q` and overflow `o` (with `n` saturation bits for AP_WRAP), in the
// integer type S (long long when everything fits, else __int128; U its unsigned twin).
template <class S, class U>
__attribute__((always_inline)) inline S cast_in(S v, int sf, int w, int df, bool s, ap_q_mode q,
                                                ap_o_mode o, int n) {
    const int B = 8 * (int)sizeof(S);
    int sh = sf - df;
    S r;
    bool big = false;  // the quantised value does not fit in S (then it overflows)
    U shifted = 0;
    if (sh > 0) {
        if (sh >= B - 2) {
            r = (q == AP_TRN && v < 0) ? -1 : 0;
        } else {
            r = v >> sh;
            S rem = v - (S)(((U)r) << sh);
            S half = ((S)1) << (sh - 1);
            bool neg = v < 0;
            switch (q) {
            case AP_TRN: break;
            case AP_TRN_ZERO: if (neg && rem != 0) r += 1; break;
            case AP_RND: if (rem >= half) r += 1; break;
            case AP_RND_ZERO: if (rem > half || (rem == half && neg)) r += 1; break;
            case AP_RND_MIN_INF: if (rem > half) r += 1; break;
            case AP_RND_INF: if (rem > half || (rem == half && !neg)) r += 1; break;
            case AP_RND_CONV: if (rem > half || (rem == half && (r & 1))) r += 1; break;
            }
        }
        shifted = (U)r;
    } else if (sh == 0) {
        r = v;
        shifted = (U)r;
    } else {
        int ls = -sh;
        if (ls >= B - 1) {
            big = v != 0;
            r = 0;
        } else {
            shifted = ((U)v) << ls;
            r = (S)shifted;
            if ((r >> ls) != v) big = true;
        }
    }
    if (o == AP_WRAP && n == 0 && !big) return wrap_bits<S, U>(shifted, w, s);
    S lo, hi;
    if (s) {
        hi = (w >= B) ? (S)(~(U)0 >> 1) : (((S)1) << (w - 1)) - 1;
        lo = -hi - 1;
    } else {
        hi = (w >= B - 1) ? (S)(~(U)0 >> 1) : (((S)1) << w) - 1;
        lo = 0;
    }
    bool over = big ? v > 0 : r > hi;
    bool under = big ? v < 0 : r < lo;
    S out = wrap_bits<S, U>(shifted, w, s);
    bool sym = (o == AP_SAT_SYM) && s && w > 1;
    if (o == AP_SAT || o == AP_SAT_SYM) {
        if (over) out = hi;
        if (under) out = sym ? -hi : lo;
        if (sym && out == lo) out = -hi;
    } else if (o == AP_SAT_ZERO) {
        if (over || under) out = 0;
    } else if (o == AP_WRAP && n > 0) {
        U top = ((((U)1) << n) - 1) << (w - n);
        if (s) {
            U rest = ((((U)1) << (n - 1)) - 1) << (w - n);
            U sign = ((U)1) << (w - 1);
            if (over) out = wrap_bits<S, U>((((U)out) & ~top) | rest, w, true);
            if (under) out = wrap_bits<S, U>((((U)out) & ~top) | sign, w, true);
        } else if (over || under) {
            out = (S)(((U)out) | top);
        }
    }
    return out;
}

// The cast in 64-bit integers when the source (`sw` bits), any left shift and the target fit.
__attribute__((always_inline)) inline i128 cast(i128 v, int sw, int sf, int w, int df, bool s,
                                                ap_q_mode q, ap_o_mode o, int n) {
    int left = df > sf ? df - sf : 0;
    if (sw + left <= 62 && w <= 62 && sf - df < 60)
        return (i128)cast_in<long long, unsigned long long>((long long)v, sf, w, df, s, q, o, n);
    return cast_in<i128, u128>(v, sf, w, df, s, q, o, n);
}

// Exact mantissa and scale of a double: d = m * 2**-f.
inline void split_double(double d, i128 &m, int &f) {
    unsigned long long bits;
    std::memcpy(&bits, &d, sizeof bits);
    const int field = (int)((bits >> 52) & 0x7ff);
    if (field != 0 && field != 0x7ff) {  // normal: d = +-(2**52 + fraction) * 2**(field - 1075)
        const long long mag = (long long)((bits & 0xfffffffffffffULL) | (1ULL << 52));
        m = (bits >> 63) ? -mag : mag;
        f = 1075 - field;
        return;
    }
    if (d == 0.0 || std::isnan(d)) { m = 0; f = 0; return; }
    int e;
    double fr = std::frexp(d, &e);           // d = fr * 2**e, 0.5 <= |fr| < 1
    m = (i128)(long long)std::ldexp(fr, 53);  // exact
    f = 53 - e;
}

}  // namespace ap_lite

template <int W, int I, bool S = true, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP, int N = 0>
struct ap_fixed_base {
    static_assert(W >= 1 && W <= 128, "hepinfer's ap_types_lite supports widths 1..128");
    typedef typename ap_lite::raw<W>::type raw_t;
    static const int width = W;
    static const int iwidth = I;
    static const int frac = W - I;
    static const bool sign_flag = S;
    static const ap_q_mode qmode = Q;
    static const ap_o_mode omode = O;
    raw_t V;

    ap_fixed_base() : V(0) {}
    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    ap_fixed_base(const ap_fixed_base<W2, I2, S2, Q2, O2, N2> &x)
        : V((raw_t)ap_lite::cast((ap_lite::i128)x.V, W2, W2 - I2, W, W - I, S, Q, O, N)) {}
    ap_fixed_base(double d) {
        ap_lite::i128 m; int f;
        ap_lite::split_double(d, m, f);
        V = (raw_t)ap_lite::cast(m, 54, f, W, W - I, S, Q, O, N);
    }
    ap_fixed_base(float d) : ap_fixed_base((double)d) {}
    ap_fixed_base(bool b) : V((raw_t)ap_lite::cast(b ? 1 : 0, 2, 0, W, W - I, S, Q, O, N)) {}
    ap_fixed_base(int i) : V((raw_t)ap_lite::cast(i, 33, 0, W, W - I, S, Q, O, N)) {}
    ap_fixed_base(unsigned i) : V((raw_t)ap_lite::cast(i, 33, 0, W, W - I, S, Q, O, N)) {}
    ap_fixed_base(long i) : V((raw_t)ap_lite::cast(i, 65, 0, W, W - I, S, Q, O, N)) {}
    ap_fixed_base(unsigned long i) : V((raw_t)ap_lite::cast(i, 65, 0, W, W - I, S, Q, O, N)) {}
    ap_fixed_base(long long i) : V((raw_t)ap_lite::cast(i, 65, 0, W, W - I, S, Q, O, N)) {}
    ap_fixed_base(unsigned long long i) : V((raw_t)ap_lite::cast(i, 65, 0, W, W - I, S, Q, O, N)) {}

    static ap_fixed_base from_raw(ap_lite::i128 v) {
        ap_fixed_base r;
        r.V = (raw_t)v;
        return r;
    }
    double to_double() const { return std::ldexp((double)V, -(W - I)); }
    float to_float() const { return (float)to_double(); }
    int to_int() const { return (int)(((ap_lite::i128)V) >> (W - I > 0 ? W - I : 0)); }
    long long to_int64() const { return (long long)to_int(); }

    // Bits [hi, lo] of the two's complement pattern as an unsigned integer (Xilinx's
    // x.range(hi, lo) / x(hi, lo), read only); range(): all W bits.
    ap_fixed_base<W, W, false> range(int hi, int lo) const {
        const int n = hi - lo + 1;
        ap_lite::u128 bits = ((ap_lite::u128)(ap_lite::i128)V) >> lo;
        if (n < 128) bits &= (((ap_lite::u128)1) << n) - 1;
        return ap_fixed_base<W, W, false>::from_raw((ap_lite::i128)bits);
    }
    ap_fixed_base<W, W, false> range() const { return range(W - 1, 0); }
    ap_fixed_base<W, W, false> operator()(int hi, int lo) const { return range(hi, lo); }
    // Shifts of the bit pattern within the type (Xilinx's operator>> / operator<<).
    ap_fixed_base operator>>(int n) const { return from_raw(ap_lite::wrap_bits<ap_lite::i128, ap_lite::u128>((ap_lite::u128)((ap_lite::i128)V >> n), W, S)); }
    ap_fixed_base operator<<(int n) const { return from_raw(ap_lite::wrap_bits<ap_lite::i128, ap_lite::u128>(((ap_lite::u128)(ap_lite::i128)V) << n, W, S)); }
    unsigned to_uint() const { return (unsigned)to_int(); }

    template <class T> ap_fixed_base &operator+=(const T &x) { *this = *this + x; return *this; }
    template <class T> ap_fixed_base &operator-=(const T &x) { *this = *this - x; return *this; }
    template <class T> ap_fixed_base &operator*=(const T &x) { *this = *this * x; return *this; }
};

// Xilinx's result types of exact arithmetic (ap_fixed_base::RType)
template <class A, class B> struct ap_rtype {
    static const int fa = A::width - A::iwidth, fb = B::width - B::iwidth;
    static const bool sa = A::sign_flag, sb = B::sign_flag;
    static const int mul_w = A::width + B::width, mul_i = A::iwidth + B::iwidth;
    static const int ia = A::iwidth + (sb && !sa), ib = B::iwidth + (sa && !sb);
    static const int plus_i = (ia > ib ? ia : ib) + 1;
    static const int plus_f = fa > fb ? fa : fb;
    typedef ap_fixed_base<mul_w, mul_i, sa || sb> mult;
    typedef ap_fixed_base<plus_i + plus_f, plus_i, sa || sb> plus;
    typedef ap_fixed_base<plus_i + plus_f, plus_i, true> minus;
};

#define AP_LITE_T1 int W1, int I1, bool S1, ap_q_mode Q1, ap_o_mode O1, int N1
#define AP_LITE_T2 int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2
#define AP_LITE_A ap_fixed_base<W1, I1, S1, Q1, O1, N1>
#define AP_LITE_B ap_fixed_base<W2, I2, S2, Q2, O2, N2>

template <AP_LITE_T1, AP_LITE_T2>
inline typename ap_rtype<AP_LITE_A, AP_LITE_B>::mult operator*(const AP_LITE_A &a, const AP_LITE_B &b) {
    typedef typename ap_rtype<AP_LITE_A, AP_LITE_B>::mult R;
    return R::from_raw((ap_lite::i128)a.V * (ap_lite::i128)b.V);
}

template <AP_LITE_T1, AP_LITE_T2>
inline typename ap_rtype<AP_LITE_A, AP_LITE_B>::plus operator+(const AP_LITE_A &a, const AP_LITE_B &b) {
    typedef typename ap_rtype<AP_LITE_A, AP_LITE_B>::plus R;
    const int f = R::frac;
    return R::from_raw(((ap_lite::i128)a.V << (f - (W1 - I1))) + ((ap_lite::i128)b.V << (f - (W2 - I2))));
}

template <AP_LITE_T1, AP_LITE_T2>
inline typename ap_rtype<AP_LITE_A, AP_LITE_B>::minus operator-(const AP_LITE_A &a, const AP_LITE_B &b) {
    typedef typename ap_rtype<AP_LITE_A, AP_LITE_B>::minus R;
    const int f = R::frac;
    return R::from_raw(((ap_lite::i128)a.V << (f - (W1 - I1))) - ((ap_lite::i128)b.V << (f - (W2 - I2))));
}

// Integer division (ap_int / ap_uint only), truncating toward zero: Xilinx's result type.
template <AP_LITE_T1, AP_LITE_T2>
inline ap_fixed_base<W1 + S2, W1 + S2, S1 || S2> operator/(const AP_LITE_A &a, const AP_LITE_B &b) {
    static_assert(W1 == I1 && W2 == I2, "hepinfer's ap_types_lite divides integers only");
    return ap_fixed_base<W1 + S2, W1 + S2, S1 || S2>::from_raw((ap_lite::i128)a.V / (ap_lite::i128)b.V);
}

template <AP_LITE_T1>
inline ap_fixed_base<W1 + 1, I1 + 1, true> operator-(const AP_LITE_A &a) {
    return ap_fixed_base<W1 + 1, I1 + 1, true>::from_raw(-(ap_lite::i128)a.V);
}

template <AP_LITE_T1, AP_LITE_T2> inline int ap_lite_cmp(const AP_LITE_A &a, const AP_LITE_B &b) {
    const int fa = W1 - I1, fb = W2 - I2, f = fa > fb ? fa : fb;
    ap_lite::i128 x = (ap_lite::i128)a.V << (f - fa), y = (ap_lite::i128)b.V << (f - fb);
    return x < y ? -1 : (x > y ? 1 : 0);
}

#define AP_LITE_CMP(op)                                                                        \
    template <AP_LITE_T1, AP_LITE_T2> inline bool operator op(const AP_LITE_A &a, const AP_LITE_B &b) { \
        return ap_lite_cmp(a, b) op 0;                                                          \
    }                                                                                           \
    template <AP_LITE_T1> inline bool operator op(const AP_LITE_A &a, int b) {                   \
        return ap_lite_cmp(a, ap_fixed_base<32, 32, true>(b)) op 0;                             \
    }                                                                                           \
    template <AP_LITE_T1> inline bool operator op(const AP_LITE_A &a, double b) {                \
        return a.to_double() op b;                                                              \
    }
AP_LITE_CMP(<)
AP_LITE_CMP(>)
AP_LITE_CMP(<=)
AP_LITE_CMP(>=)
AP_LITE_CMP(==)
AP_LITE_CMP(!=)
#undef AP_LITE_CMP

template <AP_LITE_T1> inline std::ostream &operator<<(std::ostream &os, const AP_LITE_A &a) {
    return os << a.to_double();
}

#define AP_LITE_DERIVED(NAME, PARAMS, BASE)                                                   \
    template <PARAMS> struct NAME : BASE {                                                    \
        typedef BASE Base;                                                                    \
        NAME() : Base() {}                                                                    \
        template <AP_LITE_T2> NAME(const AP_LITE_B &x) : Base(x) {}                           \
        NAME(double d) : Base(d) {}                                                           \
        NAME(float d) : Base(d) {}                                                            \
        NAME(bool b) : Base(b) {}                                                             \
        NAME(int i) : Base(i) {}                                                              \
        NAME(unsigned i) : Base(i) {}                                                         \
        NAME(long i) : Base(i) {}                                                             \
        NAME(unsigned long i) : Base(i) {}                                                    \
        NAME(long long i) : Base(i) {}                                                        \
        NAME(unsigned long long i) : Base(i) {}                                               \
    };

#define AP_LITE_COMMA ,
AP_LITE_DERIVED(ap_fixed, int W AP_LITE_COMMA int I AP_LITE_COMMA ap_q_mode Q = AP_TRN AP_LITE_COMMA ap_o_mode O = AP_WRAP AP_LITE_COMMA int N = 0,
                ap_fixed_base<W AP_LITE_COMMA I AP_LITE_COMMA true AP_LITE_COMMA Q AP_LITE_COMMA O AP_LITE_COMMA N>)
AP_LITE_DERIVED(ap_ufixed, int W AP_LITE_COMMA int I AP_LITE_COMMA ap_q_mode Q = AP_TRN AP_LITE_COMMA ap_o_mode O = AP_WRAP AP_LITE_COMMA int N = 0,
                ap_fixed_base<W AP_LITE_COMMA I AP_LITE_COMMA false AP_LITE_COMMA Q AP_LITE_COMMA O AP_LITE_COMMA N>)
AP_LITE_DERIVED(ap_int, int W, ap_fixed_base<W AP_LITE_COMMA W AP_LITE_COMMA true>)
AP_LITE_DERIVED(ap_uint, int W, ap_fixed_base<W AP_LITE_COMMA W AP_LITE_COMMA false>)
#undef AP_LITE_COMMA
#undef AP_LITE_DERIVED

#endif
