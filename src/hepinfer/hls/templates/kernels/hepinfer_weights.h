// hepinfer kernel library: reading weights and tables at run time (C simulation only, so that
// large models compile fast). Files hold the exact values as little-endian float64.
#ifndef HEPINFER_WEIGHTS_H
#define HEPINFER_WEIGHTS_H

#include <cstdio>
#include <string>
#include <vector>

#include "hepinfer_common.h"

namespace hepinfer {

template <class T> bool load_array(const char *dir, const char *file, T *out, int n) {
    std::string path = std::string(dir) + "/" + file;
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) {
        std::fprintf(stderr, "hepinfer: cannot open %s\n", path.c_str());
        return false;
    }
    std::vector<double> buf(n);
    size_t got = std::fread(buf.data(), sizeof(double), (size_t)n, f);
    std::fclose(f);
    if (got != (size_t)n) {
        std::fprintf(stderr, "hepinfer: %s holds %zu values, expected %d\n", path.c_str(), got, n);
        return false;
    }
    for (int i = 0; i < n; i++) out[i] = (T)buf[i];
    weights_generation()++;
    return true;
}

}  // namespace hepinfer

#endif
