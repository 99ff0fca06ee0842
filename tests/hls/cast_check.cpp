// Test driver for hepinfer's ap_types_lite: casts, products and sums for the types listed in
// the generated "types.inc" (X(type) lines). argv[1]: n float64 values; argv[2]: output int64
// mantissas, per type: n double->T casts, n fixed->T casts (from ap_fixed<40,16>), n-1
// products and n-1 sums of neighbouring values (raw mantissas of the exact result types).
#include <cstdio>
#include <vector>

#include "ap_fixed.h"

typedef ap_fixed<40, 16> source_t;

template <class T> void run(const std::vector<double> &x, std::vector<long long> &out) {
    std::vector<T> v(x.size());
    for (size_t i = 0; i < x.size(); i++) {
        v[i] = (T)x[i];
        out.push_back((long long)v[i].V);
    }
    for (size_t i = 0; i < x.size(); i++) {
        source_t s = x[i];
        T t = s;
        out.push_back((long long)t.V);
    }
    for (size_t i = 0; i + 1 < x.size(); i++) out.push_back((long long)(v[i] * v[i + 1]).V);
    for (size_t i = 0; i + 1 < x.size(); i++) out.push_back((long long)(v[i] + v[i + 1]).V);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    std::FILE *f = std::fopen(argv[1], "rb");
    if (!f) return 2;
    std::vector<double> x;
    double d;
    while (std::fread(&d, sizeof d, 1, f) == 1) x.push_back(d);
    std::fclose(f);
    std::vector<long long> out;
#define X(...) run<__VA_ARGS__>(x, out);
#include "types.inc"
#undef X
    std::FILE *g = std::fopen(argv[2], "wb");
    std::fwrite(out.data(), sizeof(long long), out.size(), g);
    std::fclose(g);
    return 0;
}
