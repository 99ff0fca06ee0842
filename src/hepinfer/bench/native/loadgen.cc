// hepinfer bench's native request loop: gRPC C++ keeps N unary calls in flight on one
// channel, each the next of a set of pre-serialised request messages, and records the start
// and end time of every call. Python only starts, drains and stops it (through ctypes), so
// the load generator costs the machine what perf_analyzer's C++ client costs, or less: no
// protobuf message is built or parsed per call (grpc::GenericStub sends the bytes as they are).
//
// Threads: `threads` completion-queue threads; call k is driven by thread k % threads. Every
// finished call is appended to a mutex-guarded record list that hb_take drains.
// Times are CLOCK_MONOTONIC nanoseconds (Python's time.perf_counter_ns on Linux).
//
// C ABI only; built and cached by hepinfer.bench.native.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

struct Record {
  int64_t start;
  int64_t end;
  int64_t send;
  int64_t recv;
  int32_t ok;
  int32_t payload;
};

struct Loader;

struct Slot {
  Loader* loader;
  grpc::CompletionQueue* cq;
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  grpc::ByteBuffer response;
  grpc::Status status;
  int64_t start = 0;
  int64_t send = 0;
  int32_t payload = 0;
};

struct Loader {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  std::string method;
  std::vector<grpc::Slice> payloads;
  double timeout_s = 30.0;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs;
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<Slot>> slots;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> next{0};
  std::atomic<int> in_flight{0};
  std::mutex mu;
  std::mutex ctx_mu;
  std::vector<Record> done;
  uint64_t last_bytes = 0;
  std::string last_error;

  // No deadline per call (a timer per call costs; perf_analyzer sets none either): hb_stop
  // cancels the calls still open `timeout_s` after it was asked to stop.
  void start_call(Slot* s) {
    uint64_t k = next.fetch_add(1, std::memory_order_relaxed);
    s->payload = int32_t(k % payloads.size());
    s->start = now_ns();
    {
      std::lock_guard<std::mutex> lock(ctx_mu);
      s->ctx = std::make_unique<grpc::ClientContext>();
    }
    grpc::ByteBuffer request(&payloads[s->payload], 1);
    s->reader = stub->PrepareUnaryCall(s->ctx.get(), method, request, s->cq);
    s->reader->StartCall();
    s->send = now_ns() - s->start;
    s->reader->Finish(&s->response, &s->status, s);
  }

  void finished(Slot* s) {
    int64_t end = now_ns();
    bool ok = s->status.ok();
    int64_t recv = 0;
    if (ok) {
      // what a client must do with an answer at least: have its bytes in one piece
      grpc::Slice whole;
      ok = s->response.DumpToSingleSlice(&whole).ok();
      recv = now_ns() - end;
      end += recv;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      done.push_back(Record{s->start, end, s->send, recv, ok ? 1 : 0, s->payload});
      if (!ok) last_error = s->status.error_message();
    }
    s->response.Clear();
    if (stop.load(std::memory_order_relaxed)) {
      in_flight.fetch_sub(1);
      return;
    }
    start_call(s);
  }

  void run(grpc::CompletionQueue* cq) {
    void* tag;
    bool ok;
    while (cq->Next(&tag, &ok)) finished(static_cast<Slot*>(tag));
  }
};

void copy_error(const std::string& text, char* err, size_t n) {
  if (n == 0) return;
  std::strncpy(err, text.c_str(), n - 1);
  err[n - 1] = '\0';
}

}  // namespace

extern "C" {

// Open a channel to `target` ("host:port"); NULL and `err` when it does not connect within
// `connect_timeout_s`.
void* hb_open(const char* target, const char* method, const char* const* payloads,
              const size_t* sizes, int count, double timeout_s, int max_message,
              double connect_timeout_s, char* err, size_t err_size) {
  if (count < 1) {
    copy_error("no request payloads", err, err_size);
    return nullptr;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message);
  args.SetMaxSendMessageSize(max_message);
  // no retry machinery on the hot path (it buffers every message for a possible retry)
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  auto loader = std::make_unique<Loader>();
  loader->channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::microseconds(int64_t(connect_timeout_s * 1e6));
  if (!loader->channel->WaitForConnected(deadline)) {
    copy_error(std::string("no connection to ") + target, err, err_size);
    return nullptr;
  }
  loader->stub = std::make_unique<grpc::GenericStub>(loader->channel);
  loader->method = method;
  loader->timeout_s = timeout_s;
  for (int i = 0; i < count; ++i) loader->payloads.emplace_back(payloads[i], sizes[i]);
  return loader.release();
}

// Start `concurrency` calls in flight, driven by `threads` completion-queue threads.
int hb_start(void* handle, int concurrency, int threads) {
  auto* l = static_cast<Loader*>(handle);
  if (concurrency < 1 || threads < 1 || !l->slots.empty()) return -1;
  threads = std::min(threads, concurrency);
  for (int t = 0; t < threads; ++t) l->cqs.push_back(std::make_unique<grpc::CompletionQueue>());
  for (int i = 0; i < concurrency; ++i) {
    auto s = std::make_unique<Slot>();
    s->loader = l;
    s->cq = l->cqs[i % threads].get();
    l->slots.push_back(std::move(s));
  }
  l->in_flight = concurrency;
  for (auto& s : l->slots) l->start_call(s.get());
  for (int t = 0; t < threads; ++t) {
    grpc::CompletionQueue* cq = l->cqs[t].get();
    l->threads.emplace_back([l, cq] { l->run(cq); });
  }
  return 0;
}

// Move up to `max` finished calls into the arrays; returns how many.
long hb_take(void* handle, int64_t* start, int64_t* end, int64_t* send, int64_t* recv,
             int32_t* ok, int32_t* payload, long max) {
  auto* l = static_cast<Loader*>(handle);
  std::lock_guard<std::mutex> lock(l->mu);
  long n = std::min<long>(max, long(l->done.size()));
  for (long i = 0; i < n; ++i) {
    const Record& r = l->done[i];
    start[i] = r.start;
    end[i] = r.end;
    send[i] = r.send;
    recv[i] = r.recv;
    ok[i] = r.ok;
    payload[i] = r.payload;
  }
  l->done.erase(l->done.begin(), l->done.begin() + n);
  return n;
}

// Finished calls waiting to be taken.
long hb_pending(void* handle) {
  auto* l = static_cast<Loader*>(handle);
  std::lock_guard<std::mutex> lock(l->mu);
  return long(l->done.size());
}

// The message of the last failed call ("" if none).
void hb_last_error(void* handle, char* err, size_t err_size) {
  auto* l = static_cast<Loader*>(handle);
  std::lock_guard<std::mutex> lock(l->mu);
  copy_error(l->last_error, err, err_size);
}

// Stop starting calls, let those in flight finish, join the threads.
void hb_stop(void* handle) {
  auto* l = static_cast<Loader*>(handle);
  l->stop = true;
  auto give_up = std::chrono::steady_clock::now() +
                 std::chrono::microseconds(int64_t(l->timeout_s * 1e6));
  bool cancelled = false;
  while (l->in_flight.load() > 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (!cancelled && std::chrono::steady_clock::now() > give_up) {
      std::lock_guard<std::mutex> lock(l->ctx_mu);
      for (auto& s : l->slots) s->ctx->TryCancel();  // a server that never answers
      cancelled = true;
    }
  }
  for (auto& cq : l->cqs) cq->Shutdown();
  for (auto& t : l->threads) t.join();
  l->threads.clear();
  l->slots.clear();
  l->cqs.clear();
  l->stop = false;
}

void hb_close(void* handle) {
  auto* l = static_cast<Loader*>(handle);
  if (!l->threads.empty()) hb_stop(handle);
  delete l;
}

}  // extern "C"
