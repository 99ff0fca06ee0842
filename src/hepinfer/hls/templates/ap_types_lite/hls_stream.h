// hepinfer's minimal hls::stream for C simulation without the Vitis HLS headers.
#ifndef HEPINFER_HLS_STREAM_LITE_H
#define HEPINFER_HLS_STREAM_LITE_H

#include <deque>

namespace hls {

template <class T> class stream {
  public:
    stream() {}
    explicit stream(const char *) {}
    void write(const T &v) { q_.push_back(v); }
    T read() {
        T v = q_.front();
        q_.pop_front();
        return v;
    }
    void read(T &v) { v = read(); }
    bool empty() const { return q_.empty(); }
    unsigned size() const { return (unsigned)q_.size(); }
    stream &operator<<(const T &v) { write(v); return *this; }
    stream &operator>>(T &v) { read(v); return *this; }

  private:
    std::deque<T> q_;
};

}  // namespace hls

#endif
