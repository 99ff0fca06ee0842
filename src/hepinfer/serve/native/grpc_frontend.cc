// hepinfer's native gRPC front end: gRPC C++ (HTTP/2, framing, flow control, compression)
// runs in its own threads without the GIL; Python sees only raw request bytes, a batch at a
// time, and answers each call with its serialized response.
//
// Every method is received through grpc::AsyncGenericService, so this file knows no
// protobuf message: Python passes the list of method paths it serves and the one that is a
// bidirectional stream (ModelStreamInfer). Unknown methods are answered UNIMPLEMENTED here.
//
// Hand-off to Python: received messages are appended to a queue; when the queue goes from
// empty to non-empty the eventfd is written, and the event loop (which watches the fd) takes
// everything queued with one call (hepinfer_grpc_take). Answers come back with
// hepinfer_grpc_respond from the loop thread; gRPC operations may be started from any thread.
// A few answers at a time (up to kInlineAnswers, the bursts of a handful of clients) are sent
// from the calling thread; larger bursts go to the responder thread, so that the event loop
// does not run the transport for all of them. Waking the responder costs a thread switch per
// burst, which at low concurrency is most of what the hop would save.
//
// C ABI only (called through ctypes); built and cached by hepinfer.serve.native.build.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kPosted = 16;  // calls posted per completion queue, ready to be accepted
// Flow control of a stream: at most this many of its requests are read and not yet written
// back; past it the stream is not read, so HTTP/2 flow control holds the client back
constexpr size_t kStreamWindow = 64;
// answers given together that are sent from the calling thread (more go to the responder)
constexpr int kInlineAnswers = 4;
// answer codes below 0 (streams only): see deliver()
constexpr int kMore = -1;
constexpr int kDoneSilent = -2;

struct Server;
struct Call;

enum class Op { kRequest, kRead, kWrite, kFinish };

struct Tag {
  Call* call;
  Op op;
};

struct Item {
  uint64_t call;
  int32_t method;
  std::string data;
};

struct Response {
  uint64_t call;
  int code;
  std::string details;
  std::string data;
};

struct Call {
  Call(Server* s, grpc::ServerCompletionQueue* q, uint64_t i) : srv(s), cq(q), id(i) {}
  Server* srv;
  grpc::ServerCompletionQueue* cq;
  uint64_t id;
  grpc::GenericServerContext ctx;
  grpc::GenericServerAsyncReaderWriter stream{&ctx};
  grpc::ByteBuffer in;
  Tag t_request{this, Op::kRequest};
  Tag t_read{this, Op::kRead};
  Tag t_write{this, Op::kWrite};
  Tag t_finish{this, Op::kFinish};
  std::mutex mu;
  int method = -1;
  bool streaming = false;
  int ops = 0;          // gRPC operations in flight
  int waiting = 0;      // messages handed to Python and not answered yet
  bool read_done = false;
  bool read_paused = false;  // a stream at its window: the next Read waits for answers
  bool writing = false;
  bool broken = false;  // a write failed: the client is gone
  bool finish_started = false;
  bool finished = false;
  grpc::Status final_status = grpc::Status::OK;
  std::deque<grpc::ByteBuffer> writes;
};

struct Server {
  std::unique_ptr<grpc::Server> server;
  grpc::AsyncGenericService service;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  std::vector<std::thread> threads;
  std::vector<std::string> methods;
  // per method: the metadata key and value a call needs (empty key: open), and the refusal
  std::vector<std::string> need_key, need_value, refusal;
  int stream_method = -1;
  int efd = -1;
  std::atomic<bool> shutting{false};
  std::mutex qmu;
  std::vector<Item> queue;
  std::vector<Item> taken;
  std::mutex cmu;
  std::unordered_map<uint64_t, Call*> calls;
  uint64_t next_id = 1;
  std::atomic<uint64_t> received{0};
  // answers from Python, sent by the responder thread (a gRPC write runs the transport in
  // the calling thread: it must not be the event loop's)
  std::mutex rmu;
  std::condition_variable rcv;
  std::vector<Response> responses;
  bool delivering = false;  // the responder is sending answers it took from `responses`
  bool responder_stop = false;
  std::thread responder;
};

void signal_python(Server* srv) {
  uint64_t one = 1;
  ssize_t n = write(srv->efd, &one, sizeof one);
  (void)n;  // a full counter still wakes the reader
}

void push_item(Server* srv, uint64_t call, int32_t method, std::string&& data) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(srv->qmu);
    was_empty = srv->queue.empty();
    srv->queue.push_back(Item{call, method, std::move(data)});
  }
  srv->received.fetch_add(1, std::memory_order_relaxed);
  if (was_empty) signal_python(srv);
}

std::string flatten(grpc::ByteBuffer& buf) {
  std::string out;
  grpc::Slice single;
  if (buf.TrySingleSlice(&single).ok()) {
    out.assign(reinterpret_cast<const char*>(single.begin()), single.size());
    return out;
  }
  std::vector<grpc::Slice> slices;
  if (!buf.Dump(&slices).ok()) return out;
  out.reserve(buf.Length());
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

void request_next(Server* srv, grpc::ServerCompletionQueue* cq) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(srv->cmu);
    id = srv->next_id++;
  }
  auto* call = new Call(srv, cq, id);
  call->ops = 1;
  {
    std::lock_guard<std::mutex> lock(srv->cmu);
    srv->calls.emplace(id, call);
  }
  srv->service.RequestCall(&call->ctx, &call->stream, cq, cq, &call->t_request);
}

// Both called with call->mu held.
void start_finish(Call* call, const grpc::Status& status) {
  call->finish_started = true;
  call->ops++;
  call->stream.Finish(status, &call->t_finish);
}

void pump_stream(Call* call) {
  if (call->finish_started) return;
  if (!call->writing && !call->writes.empty() && !call->broken) {
    call->writing = true;
    call->ops++;
    call->stream.Write(call->writes.front(), &call->t_write);
    return;
  }
  if (call->writing) return;
  if ((call->read_done || call->broken) && call->waiting == 0) {
    call->writes.clear();
    start_finish(call, call->final_status);
  }
}

// A stream paused at its window reads again once its answers are out. With call->mu held.
void resume_read(Call* call) {
  if (!call->read_paused || call->read_done || call->finish_started || call->broken) return;
  if (static_cast<size_t>(call->waiting) + call->writes.size() >= kStreamWindow) return;
  call->read_paused = false;
  call->ops++;
  call->stream.Read(&call->in, &call->t_read);
}

// Deletes the call when nothing refers to it any more; returns true when it did.
bool maybe_release(Call* call, std::unique_lock<std::mutex>& lock) {
  if (call->ops > 0 || call->waiting > 0 || !call->finished) return false;
  Server* srv = call->srv;
  lock.unlock();
  {
    std::lock_guard<std::mutex> guard(srv->cmu);
    srv->calls.erase(call->id);
  }
  delete call;
  return true;
}

// Whether the call carries the metadata its method's API group needs (restricted APIs).
bool allowed(Server* srv, Call* call) {
  const std::string& key = srv->need_key[call->method];
  if (key.empty()) return true;
  const std::string& value = srv->need_value[call->method];
  auto range = call->ctx.client_metadata().equal_range(grpc::string_ref(key));
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == grpc::string_ref(value)) return true;
  }
  return false;
}

void on_event(Tag* tag, bool ok) {
  Call* call = tag->call;
  Server* srv = call->srv;
  std::unique_lock<std::mutex> lock(call->mu);
  call->ops--;
  switch (tag->op) {
    case Op::kRequest: {
      if (!ok) {  // the server is shutting down
        call->finished = true;
        maybe_release(call, lock);
        return;
      }
      if (!srv->shutting.load()) request_next(srv, call->cq);
      const std::string& path = call->ctx.method();
      for (size_t i = 0; i < srv->methods.size(); ++i) {
        if (srv->methods[i] == path) call->method = static_cast<int>(i);
      }
      if (call->method < 0) {
        call->method = 0;  // known to the release logic from here on
        start_finish(call, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                        "unknown method " + path + " (hepinfer serves "
                                        "inference.GRPCInferenceService)"));
        return;
      }
      if (!allowed(srv, call)) {
        start_finish(call, grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        srv->refusal[call->method]));
        return;
      }
      call->streaming = call->method == srv->stream_method;
      call->ops++;
      call->stream.Read(&call->in, &call->t_read);
      return;
    }
    case Op::kRead: {
      if (!ok) {
        call->read_done = true;
        if (!call->streaming) {
          if (call->waiting == 0 && !call->finish_started) {
            start_finish(call, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                            "the call carried no request message"));
          }
          return;
        }
        pump_stream(call);
        maybe_release(call, lock);
        return;
      }
      if (call->finish_started) {  // the stream was ended with an error: drop the rest
        maybe_release(call, lock);
        return;
      }
      std::string data = flatten(call->in);
      call->in.Clear();
      call->waiting++;
      if (call->streaming) {
        if (static_cast<size_t>(call->waiting) + call->writes.size() < kStreamWindow) {
          call->ops++;
          call->stream.Read(&call->in, &call->t_read);
        } else {
          call->read_paused = true;
        }
      }
      int method = call->method;
      uint64_t id = call->id;
      lock.unlock();
      push_item(srv, id, method, std::move(data));
      return;
    }
    case Op::kWrite: {
      call->writing = false;
      if (!call->writes.empty()) call->writes.pop_front();
      if (!ok) call->broken = true;
      pump_stream(call);
      resume_read(call);
      maybe_release(call, lock);
      return;
    }
    case Op::kFinish: {
      call->finished = true;
      maybe_release(call, lock);
      return;
    }
  }
}

void deliver(Server* srv, Response& r) {
  Call* call;
  {
    std::lock_guard<std::mutex> lock(srv->cmu);
    auto it = srv->calls.find(r.call);
    if (it == srv->calls.end()) return;
    call = it->second;
  }
  std::unique_lock<std::mutex> lock(call->mu);
  // stream answers of decoupled requests: kMore writes a response and more follow (the
  // request stays waiting); kDoneSilent completes the request without writing anything
  const bool more = r.code == kMore;
  const bool silent = r.code == kDoneSilent;
  if (!more && call->waiting > 0) call->waiting--;
  grpc::Status status = r.code <= 0 ? grpc::Status::OK
                                    : grpc::Status(static_cast<grpc::StatusCode>(r.code), r.details);
  if (!call->streaming) {
    if (call->finish_started) {
      maybe_release(call, lock);
      return;
    }
    call->finish_started = true;
    call->ops++;
    if (r.code == 0) {
      grpc::Slice slice(r.data.data(), r.data.size());
      grpc::ByteBuffer buf(&slice, 1);
      call->stream.WriteAndFinish(buf, grpc::WriteOptions(), grpc::Status::OK, &call->t_finish);
    } else {
      call->stream.Finish(status, &call->t_finish);
    }
    return;
  }
  if (r.code > 0) {
    call->final_status = status;
    call->read_done = true;  // an error ends the stream once the queued answers are out
  } else if (!call->broken && !silent) {
    grpc::Slice slice(r.data.data(), r.data.size());
    call->writes.emplace_back(&slice, 1);
  }
  pump_stream(call);
  resume_read(call);
  maybe_release(call, lock);
  return;
}

void respond_loop(Server* srv) {
  std::vector<Response> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(srv->rmu);
      srv->rcv.wait(lock, [srv] { return !srv->responses.empty() || srv->responder_stop; });
      if (srv->responses.empty()) return;
      batch.swap(srv->responses);
      srv->delivering = true;
    }
    for (auto& r : batch) deliver(srv, r);
    batch.clear();
    std::lock_guard<std::mutex> lock(srv->rmu);
    srv->delivering = false;
  }
}

void serve_queue(grpc::ServerCompletionQueue* cq) {
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) on_event(static_cast<Tag*>(tag), ok);
}

void set_error(char* err, size_t cap, const std::string& text) {
  if (err == nullptr || cap == 0) return;
  size_t n = text.size() < cap - 1 ? text.size() : cap - 1;
  std::memcpy(err, text.data(), n);
  err[n] = '\0';
}

}  // namespace

extern "C" {

// Start serving on `address` ("host:port"; port 0 picks one). `methods` is a '\n'-separated
// list of full method paths, `stream_method` the index of the bidirectional one. Channel
// arguments: `n_args` keys with an integer or (when is_str[i]) a string value. Restricted
// APIs: for method i, a call must carry metadata `need_keys[i]` with value `need_values[i]`
// (NULL key: open) or is refused UNAVAILABLE with `refusals[i]`. TLS: with `tls_cert` and
// `tls_key` (PEM text) the port serves TLS; `tls_root` (PEM, may be NULL) verifies client
// certificates, required when `tls_mutual`. Returns the server, or NULL with a message in
// `err`.
void* hepinfer_grpc_start(const char* address, const char* methods, int stream_method,
                          int max_message_bytes, int threads, int n_args, const char** keys,
                          const long long* int_values, const char** str_values,
                          const int* is_str, const char** need_keys, const char** need_values,
                          const char** refusals, const char* tls_cert, const char* tls_key,
                          const char* tls_root, int tls_mutual, int* port, char* err,
                          size_t err_cap) {
  auto* srv = new Server();
  std::string list(methods);
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find('\n', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) srv->methods.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  for (size_t i = 0; i < srv->methods.size(); ++i) {
    bool open = need_keys == nullptr || need_keys[i] == nullptr;
    srv->need_key.emplace_back(open ? "" : need_keys[i]);
    srv->need_value.emplace_back(open || need_values[i] == nullptr ? "" : need_values[i]);
    srv->refusal.emplace_back(open || refusals[i] == nullptr ? "" : refusals[i]);
  }
  srv->stream_method = stream_method;
  srv->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (srv->efd < 0) {
    set_error(err, err_cap, "eventfd() failed");
    delete srv;
    return nullptr;
  }
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  for (int i = 0; i < n_args; ++i) {
    if (is_str[i]) {
      builder.AddChannelArgument(keys[i], std::string(str_values[i]));
    } else {
      builder.AddChannelArgument(keys[i], static_cast<int>(int_values[i]));
    }
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls_cert != nullptr && tls_key != nullptr) {  // server TLS, mutual when asked
    grpc::SslServerCredentialsOptions ssl(
        tls_mutual ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    if (tls_root != nullptr) ssl.pem_root_certs = tls_root;
    ssl.pem_key_cert_pairs.push_back({tls_key, tls_cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort(address, credentials, port);
  builder.RegisterAsyncGenericService(&srv->service);
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) srv->cqs.push_back(builder.AddCompletionQueue());
  srv->server = builder.BuildAndStart();
  if (!srv->server || *port == 0) {
    set_error(err, err_cap, std::string("cannot listen for gRPC on ") + address +
                                " (port in use or address not local?)");
    if (srv->server) srv->server->Shutdown();
    srv->server.reset();
    for (auto& cq : srv->cqs) {
      cq->Shutdown();
      void* tag;
      bool ok;
      while (cq->Next(&tag, &ok)) {
      }
    }
    close(srv->efd);
    delete srv;
    return nullptr;
  }
  for (auto& cq : srv->cqs) {
    for (int k = 0; k < kPosted; ++k) request_next(srv, cq.get());  // calls ready to be accepted
    srv->threads.emplace_back(serve_queue, cq.get());
  }
  srv->responder = std::thread(respond_loop, srv);
  return srv;
}

// The file descriptor that becomes readable when messages are queued for Python.
int hepinfer_grpc_fd(void* handle) { return static_cast<Server*>(handle)->efd; }

// Total messages received so far.
unsigned long long hepinfer_grpc_received(void* handle) {
  return static_cast<Server*>(handle)->received.load();
}

// Calls the server holds: those accepted and not finished, plus the ones posted to accept.
int hepinfer_grpc_open_calls(void* handle) {
  auto* srv = static_cast<Server*>(handle);
  std::lock_guard<std::mutex> lock(srv->cmu);
  return static_cast<int>(srv->calls.size());
}

// Take up to `cap` queued messages. Their bytes stay valid until the next call.
int hepinfer_grpc_take(void* handle, int cap, unsigned long long* calls, int* methods,
                       const char** data, unsigned long long* sizes) {
  auto* srv = static_cast<Server*>(handle);
  uint64_t counter;
  ssize_t n = read(srv->efd, &counter, sizeof counter);  // clear the wake-up
  (void)n;
  srv->taken.clear();
  {
    std::lock_guard<std::mutex> lock(srv->qmu);
    if (srv->queue.size() <= static_cast<size_t>(cap)) {
      srv->taken.swap(srv->queue);
    } else {
      auto split = srv->queue.begin() + cap;
      srv->taken.assign(std::make_move_iterator(srv->queue.begin()),
                        std::make_move_iterator(split));
      srv->queue.erase(srv->queue.begin(), split);
      signal_python(srv);  // more to take
    }
  }
  for (size_t i = 0; i < srv->taken.size(); ++i) {
    calls[i] = srv->taken[i].call;
    methods[i] = srv->taken[i].method;
    data[i] = srv->taken[i].data.data();
    sizes[i] = srv->taken[i].data.size();
  }
  return static_cast<int>(srv->taken.size());
}

// Answer `n` messages: for message i of call `calls[i]`, status 0 sends `data[i]` (a
// serialized response of `sizes[i]` bytes), any other gRPC status code ends the call with
// `details[i]`. Up to kInlineAnswers answers while the responder is idle are sent from the
// calling thread, in order; otherwise they are copied and queued for the responder thread.
void hepinfer_grpc_respond(void* handle, int n, const unsigned long long* calls,
                           const int* codes, const char** details, const char** data,
                           const unsigned long long* sizes) {
  auto* srv = static_cast<Server*>(handle);
  if (n <= kInlineAnswers) {
    // a few answers (low concurrency): send them from this thread, saving the responder's
    // wake-up; while the responder holds answers, these queue behind them (a stream's
    // answers stay in order: only the loop thread calls this)
    bool idle;
    {
      std::lock_guard<std::mutex> lock(srv->rmu);
      idle = srv->responses.empty() && !srv->delivering;
    }
    if (idle) {
      for (int i = 0; i < n; ++i) {
        Response r{calls[i], codes[i], details[i] ? std::string(details[i]) : std::string(),
                   sizes[i] ? std::string(data[i], sizes[i]) : std::string()};
        deliver(srv, r);
      }
      return;
    }
  }
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(srv->rmu);
    was_empty = srv->responses.empty();
    for (int i = 0; i < n; ++i) {
      srv->responses.push_back(Response{
          calls[i], codes[i], details[i] ? std::string(details[i]) : std::string(),
          sizes[i] ? std::string(data[i], sizes[i]) : std::string()});
    }
  }
  if (was_empty && n > 0) srv->rcv.notify_one();
}

// Stop accepting calls and wait up to `grace_ms` for the open ones (Python keeps answering
// meanwhile: call this off the event loop), then cancel what is left.
void hepinfer_grpc_shutdown(void* handle, int grace_ms) {
  auto* srv = static_cast<Server*>(handle);
  srv->shutting.store(true);
  srv->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
}

// After hepinfer_grpc_shutdown, once Python answers no more: join the threads and free
// everything. The handle is invalid afterwards.
void hepinfer_grpc_destroy(void* handle) {
  auto* srv = static_cast<Server*>(handle);
  {
    std::lock_guard<std::mutex> lock(srv->rmu);
    srv->responder_stop = true;
  }
  srv->rcv.notify_one();
  srv->responder.join();
  for (auto& cq : srv->cqs) cq->Shutdown();
  for (auto& t : srv->threads) t.join();
  {
    std::lock_guard<std::mutex> lock(srv->cmu);
    for (auto& kv : srv->calls) delete kv.second;
    srv->calls.clear();
  }
  srv->server.reset();
  close(srv->efd);
  delete srv;
}

}  // extern "C"
