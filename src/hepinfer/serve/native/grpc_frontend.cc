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
// Lanes (hepinfer_lane_*): a python-backend model's raw ModelInfer requests go from the CQ
// thread straight to its instance process, and the CQ thread waits for the answer (up to
// kLaneInlineNs; a slower answer is left to the lane's reader thread) and writes it out, so
// the event loop is not woken for them: three wake-ups per request (the CQ thread for the
// request, the instance process, the CQ thread for the answer) instead of five. Python keeps
// the model's scheduling: a lane carries a request only when it is the server's only open
// call (with several clients Python's scheduler batches their requests), the instance idle
// and not held by Python (a lease: Python takes it for its own batches), and in a form of
// request that Python checked and registered (a plan); everything else is queued for
// Python as before. The lane's statistics are taken by Python (hepinfer_lane_stats).
//
// C ABI only (called through ctypes); built and cached by hepinfer.serve.native.build.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
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

// a lane carries requests of at most this many bytes (bigger ones go through Python and
// the instance's shared-memory arena)
constexpr size_t kLaneMaxBytes = 1 << 20;
// a lone call's answer is waited for by the CQ thread, up to kLaneInlineNs, instead of by
// the lane's reader thread; after a wait that timed out, the next kLaneSkips requests go
// without one (a slow model: the reader waits for them)
constexpr long kLaneInlineNs = 1000000;
constexpr int kLaneSkips = 8;
// message kinds of lane notices in the queue for Python (hepinfer_grpc_take): the lane freed
// an instance Python waits for (the lane's id as the call); the instance process died with
// the lane's request (the call; its data the lane's id in decimal), which Python answers
constexpr int kLaneFree = -1;
constexpr int kLaneLost = -2;

struct Server;
struct Call;
struct Lane;

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
  // lanes by model name and by id; n_lanes lets the CQ thread skip the lookup when none
  int infer_method = -1;
  std::mutex lmu;
  std::unordered_map<std::string, std::shared_ptr<Lane>> lanes;
  std::unordered_map<uint64_t, std::shared_ptr<Lane>> lane_ids;
  uint64_t next_lane = 1;
  std::atomic<int> n_lanes{0};
};

void deliver(Server* srv, struct Response& r);
bool lane_submit(Server* srv, uint64_t call, const std::string& data);
bool lane_inline(Lane* lane);

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
      bool lane = !call->streaming && method == srv->infer_method &&
                  srv->n_lanes.load(std::memory_order_relaxed) > 0;
      lock.unlock();
      if (lane && lane_submit(srv, id, data)) return;
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

// ---------------------------------------------------------------- lanes

enum LaneState { kIdle, kLaneBusy, kPython, kClosed };

// A form of request Python checked (its tensor descriptions): what the lane needs of it.
struct LanePlan {
  std::vector<uint64_t> sizes;  // bytes of each input's raw contents
  std::string pickled;          // the plan as pickle opcodes (pushes one object)
  int64_t batch = 1;            // the batch size it counts in the statistics
};

// Statistics since Python last took them (nanoseconds).
struct LaneStats {
  uint64_t success_count = 0, success_ns = 0, fail_count = 0, fail_ns = 0, queue_ns = 0,
           input_ns = 0, infer_ns = 0, executions = 0, inferences = 0, last_ms = 0;
  std::map<int64_t, std::pair<uint64_t, uint64_t>> batches;  // size -> (count, infer ns)
};

struct Lane {
  Server* srv = nullptr;
  uint64_t id = 0;
  std::string model, version;
  int to_stub = -1, from_stub = -1, stop_fd = -1;
  int error_code = 13;  // the gRPC status of the model's errors (Python's, for the same error)
  std::mutex mu;
  LaneState state = kIdle;
  bool python_waiting = false;  // Python wanted the instance while the lane held it
  std::unordered_map<std::string, LanePlan> plans;
  uint64_t call = 0;
  int64_t batch = 1;
  int64_t t0 = 0, t1 = 0;
  uint64_t answered = 0;
  int skip_inline = 0;  // requests still to go without an inline wait
  LaneStats stats;
  std::condition_variable cv;
  bool armed = false;        // the reader waits for the answer of the request out
  bool inline_wait = false;  // the CQ thread waits for it
  bool stop = false;
  std::thread reader;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool read_varint(const std::string& b, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= b.size()) return false;
    uint8_t c = static_cast<uint8_t>(b[pos++]);
    v |= static_cast<uint64_t>(c & 0x7F) << shift;
    if (c < 0x80) return true;
  }
  return false;
}

// The top-level fields of a serialized ModelInferRequest, as raw.py's scan reads them;
// false for anything a lane leaves to Python (unknown fields). The key holds the tensor
// descriptions and the parameters: Python registers the forms it checked (hepinfer_lane_plan).
struct Scanned {
  std::string model, version, id, key;
  std::vector<std::pair<size_t, size_t>> raw;  // offset, size
};

void key_part(std::string& key, const std::string& b, size_t pos, size_t n) {
  uint32_t len = static_cast<uint32_t>(n);
  key.append(reinterpret_cast<const char*>(&len), 4);  // little-endian, as Python writes it
  key.append(b, pos, n);
}

bool scan_request(const std::string& b, Scanned& s) {
  size_t pos = 0;
  int seen = 0;
  std::string outputs, parameters;
  while (pos < b.size()) {
    size_t start = pos;
    uint8_t tag = static_cast<uint8_t>(b[pos++]);
    if ((tag & 0x87) != 2) return false;
    uint64_t n;
    if (!read_varint(b, pos, n) || n > b.size() - pos) return false;
    int field = tag >> 3;
    if (field >= 1 && field <= 3) {
      if (seen & (1 << field)) return false;
      seen |= 1 << field;
      std::string& text = field == 1 ? s.model : field == 2 ? s.version : s.id;
      text.assign(b, pos, n);
    } else if (field == 5) {
      key_part(s.key, b, pos, n);
    } else if (field == 6) {
      key_part(outputs, b, pos, n);
    } else if (field == 7) {
      s.raw.emplace_back(pos, n);
    } else if (field == 4) {
      parameters.append(b, start, pos + n - start);  // the whole field, as raw.py keeps it
    } else {
      return false;  // anything else: Python
    }
    pos += n;
  }
  s.key.push_back('\xff');
  s.key += outputs;
  s.key.push_back('\xfe');
  s.key += parameters;
  return true;
}

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_all(int fd, char* data, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, data, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    data += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void append_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

void append_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

// The message `_pb_stub.Channel` reads: a 4-byte length and the pickle (protocol 5) of
// ("lane", plan, request id, inputs' raw contents...), the contents as bytearrays (writable
// numpy views in the model, as the arena's).
std::string lane_message(const LanePlan& plan, const std::string& b, const Scanned& s) {
  std::string p;
  p.reserve(64 + plan.pickled.size() + b.size());
  p += "\x80\x05(";                     // PROTO 5, MARK
  p += "\x8c\x04lane";                  // SHORT_BINUNICODE
  p += plan.pickled;
  p.push_back('B');                     // BINBYTES: the request id
  append_u32(p, static_cast<uint32_t>(s.id.size()));
  p += s.id;
  for (const auto& r : s.raw) {
    p.push_back('\x96');                // BYTEARRAY8
    append_u64(p, r.second);
    p.append(b, r.first, r.second);
  }
  p += "t.";                            // TUPLE, STOP
  std::string frame;
  frame.reserve(4 + p.size());
  append_u32(frame, static_cast<uint32_t>(p.size()));
  frame += p;
  return frame;
}

std::shared_ptr<Lane> find_lane(Server* srv, uint64_t id) {
  std::lock_guard<std::mutex> lock(srv->lmu);
  auto it = srv->lane_ids.find(id);
  return it == srv->lane_ids.end() ? nullptr : it->second;
}

size_t open_calls(Server* srv) {
  std::lock_guard<std::mutex> lock(srv->cmu);
  return srv->calls.size();
}

// Calls held while a lone call runs: those posted to accept, and the call.
size_t lone_calls(Server* srv) { return srv->cqs.size() * kPosted + 1; }

// A received ModelInfer message: true when a lane took it (its answer comes from the lane's
// reader thread); false leaves it to Python.
bool lane_submit(Server* srv, uint64_t call, const std::string& data) {
  if (data.size() > kLaneMaxBytes) return false;
  Scanned s;
  if (!scan_request(data, s)) return false;
  std::shared_ptr<Lane> lane;
  {
    std::lock_guard<std::mutex> lock(srv->lmu);
    auto it = srv->lanes.find(s.model);
    if (it == srv->lanes.end()) return false;
    lane = it->second;
  }
  // only a lone call: with others open, the requests of several clients go to Python's
  // scheduler, which batches them (a lane would hold the instance between its batches)
  if (open_calls(srv) > lone_calls(srv)) return false;
  std::string frame;
  bool inline_wait;
  {
    std::lock_guard<std::mutex> lock(lane->mu);
    if (lane->state != kIdle) return false;
    if (!s.version.empty() && s.version != lane->version) return false;
    auto it = lane->plans.find(s.key);
    if (it == lane->plans.end()) return false;
    const LanePlan& plan = it->second;
    if (plan.sizes.size() != s.raw.size()) return false;
    for (size_t i = 0; i < s.raw.size(); ++i) {
      if (plan.sizes[i] != s.raw[i].second) return false;
    }
    if (lane->stop) return false;
    lane->state = kLaneBusy;
    lane->call = call;
    lane->batch = plan.batch;
    lane->t0 = now_ns();
    frame = lane_message(plan, data, s);
    lane->t1 = now_ns();  // before the reader can see the answer
    // a lone call: the CQ thread has nothing else to do meanwhile
    inline_wait = lane->skip_inline == 0;
    if (!inline_wait) lane->skip_inline--;
    lane->inline_wait = inline_wait;
    lane->armed = !inline_wait;
  }
  // the lane's state keeps Python from writing to the process meanwhile
  if (!write_all(lane->to_stub, frame.data(), frame.size())) {
    std::lock_guard<std::mutex> lock(lane->mu);
    lane->state = kClosed;  // the process is gone: Python answers and restarts it
    lane->inline_wait = lane->armed = false;
    lane->cv.notify_all();
    return false;
  }
  if (inline_wait) {
    bool answered = lane_inline(lane.get());
    std::lock_guard<std::mutex> lock(lane->mu);
    lane->inline_wait = false;
    lane->armed = !answered;  // not yet: the reader waits for it
    if (!answered) lane->skip_inline = kLaneSkips;
    // a notification wakes the reader even when it has nothing to do: only when it has
    // (or when the lane is being closed, which waits for this inline wait's end)
    if (lane->armed || lane->stop) lane->cv.notify_all();
  } else {
    std::lock_guard<std::mutex> lock(lane->mu);
    lane->cv.notify_all();  // wake the reader (armed above)
  }
  return true;
}

// Reads one answer of the instance process ([u32 length][u8 kind][data]: kind 0 the
// serialized ModelInferResponse, 1 the model's error text) and completes the lane's call
// with it; false when the process is gone (or `closing`): the lane is then closed.
bool lane_answer(Lane* lane, bool closing) {
  Server* srv = lane->srv;
  std::string data;
  char head[5];
  bool ok = read_all(lane->from_stub, head, 5);
  uint32_t n = 0;
  if (ok) {
    std::memcpy(&n, head, 4);
    ok = n >= 1;
  }
  if (ok) {
    data.resize(n - 1);
    ok = n == 1 || read_all(lane->from_stub, &data[0], n - 1);
  }
  uint64_t call;
  bool was_busy, wake;
  {
    std::lock_guard<std::mutex> lock(lane->mu);
    was_busy = lane->state == kLaneBusy;
    call = lane->call;
    int64_t t2 = now_ns();
    if (ok && was_busy) {
      LaneStats& st = lane->stats;
      bool success = head[4] == 0;
      (success ? st.success_count : st.fail_count)++;
      (success ? st.success_ns : st.fail_ns) += static_cast<uint64_t>(t2 - lane->t0);
      st.input_ns += static_cast<uint64_t>(lane->t1 - lane->t0);
      st.infer_ns += static_cast<uint64_t>(t2 - lane->t1);
      st.executions++;
      st.inferences += static_cast<uint64_t>(lane->batch);
      auto& b = st.batches[lane->batch];
      b.first++;
      b.second += static_cast<uint64_t>(t2 - lane->t1);
      st.last_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
      lane->answered++;
    }
    lane->state = ok && !closing ? kIdle : kClosed;
    wake = lane->python_waiting;
    lane->python_waiting = false;
  }
  if (was_busy && !ok) {
    // Python answers it, with the process's exit code, as it does for its own batches
    push_item(srv, call, kLaneLost, std::to_string(lane->id));
  } else if (was_busy) {
    Response answer{call, 0, std::string(), std::string()};
    if (head[4] == 0) {
      answer.data.swap(data);
    } else {
      answer.code = lane->error_code;
      answer.details.swap(data);
    }
    deliver(srv, answer);
  }
  if (wake) push_item(srv, lane->id, kLaneFree, std::string());
  return ok && !closing;
}

// The CQ thread, having sent a lone call's request to a fast model: wait up to
// kLaneInlineNs for the answer and send it from this thread (no wake-up of the reader, and
// the call's end is then already queued for this thread). True when it answered.
bool lane_inline(Lane* lane) {
  pollfd fd{lane->from_stub, POLLIN, 0};
  timespec wait{0, kLaneInlineNs};
  int r;
  do {
    r = ppoll(&fd, 1, &wait, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return false;
  lane_answer(lane, false);
  return true;
}

// The lane's reader thread: sleeps until the CQ thread hands it a request whose answer it
// did not wait for (`armed`), then waits for that answer (and reads a dying process's EOF).
void lane_read(std::shared_ptr<Lane> lane) {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(lane->mu);
      // stopping, it waits until the CQ thread's inline wait (if any) has ended
      lane->cv.wait(lock, [&] { return lane->armed || (lane->stop && !lane->inline_wait); });
      if (!lane->armed) {  // stopped with no answer to wait for
        if (lane->state != kLaneBusy) lane->state = kClosed;
        return;
      }
      // taken now: once answered, the next request may arm the reader again at once
      lane->armed = false;
    }
    bool stopping = false;
    for (;;) {
      pollfd fds[2] = {{lane->from_stub, POLLIN, 0}, {lane->stop_fd, POLLIN, 0}};
      int r = poll(fds, stopping ? 1 : 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return;
      if (!stopping && (fds[1].revents & POLLIN)) {
        stopping = true;  // a request is out: its answer is read first
        continue;
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) break;
    }
    if (!lane_answer(lane.get(), stopping)) return;
  }
}

void close_lane(std::shared_ptr<Lane> lane) {
  {
    std::unique_lock<std::mutex> lock(lane->mu);
    lane->stop = true;
    lane->cv.notify_all();
    // the CQ thread may be waiting for an answer inline: it finishes first
    lane->cv.wait(lock, [&] { return !lane->inline_wait; });
  }
  uint64_t one = 1;
  ssize_t n = write(lane->stop_fd, &one, sizeof one);
  (void)n;
  if (lane->reader.joinable()) lane->reader.join();
  close(lane->stop_fd);
  lane->stop_fd = -1;
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
  const std::string infer = "/ModelInfer";
  for (size_t i = 0; i < srv->methods.size(); ++i) {
    const std::string& m = srv->methods[i];
    if (m.size() >= infer.size() && m.compare(m.size() - infer.size(), infer.size(), infer) == 0) {
      srv->infer_method = static_cast<int>(i);
    }
  }
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
  std::vector<std::shared_ptr<Lane>> lanes;
  {
    std::lock_guard<std::mutex> lock(srv->lmu);
    for (auto& kv : srv->lane_ids) lanes.push_back(kv.second);
    srv->lanes.clear();
    srv->lane_ids.clear();
    srv->n_lanes.store(0);
  }
  for (auto& lane : lanes) close_lane(lane);
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

// Open a lane for model `model` (versions "" and `version`): requests go to the instance
// process on `to_stub` (written only while the lane holds the instance) and its answers
// come on `from_stub`; the model's errors end the call with gRPC status `error_code`.
// Returns the lane's id (0: a lane for this model is open already, or no eventfd).
unsigned long long hepinfer_lane_open(void* handle, const char* model, const char* version,
                                      int to_stub, int from_stub, int error_code) {
  auto* srv = static_cast<Server*>(handle);
  auto lane = std::make_shared<Lane>();
  lane->srv = srv;
  lane->model = model;
  lane->version = version;
  lane->to_stub = to_stub;
  lane->from_stub = from_stub;
  lane->error_code = error_code;
  lane->stop_fd = eventfd(0, EFD_CLOEXEC);
  if (lane->stop_fd < 0) return 0;
  {
    std::lock_guard<std::mutex> lock(srv->lmu);
    if (srv->lanes.count(lane->model)) {
      close(lane->stop_fd);
      return 0;
    }
    lane->id = srv->next_lane++;
    srv->lanes[lane->model] = lane;
    srv->lane_ids[lane->id] = lane;
    srv->n_lanes.store(static_cast<int>(srv->lanes.size()));
  }
  lane->reader = std::thread(lane_read, lane);
  return lane->id;
}

// Close a lane: no new request takes it; one in flight is answered first (this waits for it).
void hepinfer_lane_close(void* handle, unsigned long long id) {
  auto* srv = static_cast<Server*>(handle);
  std::shared_ptr<Lane> lane;
  {
    std::lock_guard<std::mutex> lock(srv->lmu);
    auto it = srv->lane_ids.find(id);
    if (it == srv->lane_ids.end()) return;
    lane = it->second;
    srv->lane_ids.erase(it);
    auto named = srv->lanes.find(lane->model);
    if (named != srv->lanes.end() && named->second == lane) srv->lanes.erase(named);
    srv->n_lanes.store(static_cast<int>(srv->lanes.size()));
  }
  close_lane(lane);
}

// Register a form of request Python checked: `key` (each input's and then, after a 0xff
// byte, each requested output's serialized description, each preceded by its 4-byte
// little-endian length), the raw bytes of each input, the plan as pickle opcodes, its batch.
void hepinfer_lane_plan(void* handle, unsigned long long id, const char* key, size_t key_size,
                        int n_inputs, const unsigned long long* sizes, const char* pickled,
                        size_t pickled_size, long long batch) {
  auto lane = find_lane(static_cast<Server*>(handle), id);
  if (!lane) return;
  LanePlan plan;
  plan.sizes.assign(sizes, sizes + n_inputs);
  plan.pickled.assign(pickled, pickled_size);
  plan.batch = batch;
  std::lock_guard<std::mutex> lock(lane->mu);
  if (lane->plans.size() >= 256) lane->plans.clear();
  lane->plans[std::string(key, key_size)] = std::move(plan);
}

// Python takes the instance for a batch of its own: 1 when it has it (or the lane is closed),
// 0 while the lane runs a request (a kLaneFree message for Python follows its end).
int hepinfer_lane_acquire(void* handle, unsigned long long id) {
  auto lane = find_lane(static_cast<Server*>(handle), id);
  if (!lane) return 1;
  std::lock_guard<std::mutex> lock(lane->mu);
  if (lane->state == kIdle) lane->state = kPython;
  if (lane->state != kLaneBusy) return 1;
  lane->python_waiting = true;
  return 0;
}

// Python's batches are done and the instance is idle: the lane may take requests again.
void hepinfer_lane_release(void* handle, unsigned long long id) {
  auto lane = find_lane(static_cast<Server*>(handle), id);
  if (!lane) return;
  std::lock_guard<std::mutex> lock(lane->mu);
  if (lane->state == kPython) lane->state = kIdle;
}

// The lane's statistics since the last call (then reset), into `out` (capacity `cap`):
// success count and ns, fail count and ns, input ns, infer ns, executions, inferences,
// last inference (ms since the epoch), the number of batch sizes, then per size: size,
// count, infer ns. Returns the values written (-1: more than `cap`).
int hepinfer_lane_stats(void* handle, unsigned long long id, unsigned long long* out, int cap) {
  auto lane = find_lane(static_cast<Server*>(handle), id);
  if (!lane) return 0;
  std::lock_guard<std::mutex> lock(lane->mu);
  LaneStats& st = lane->stats;
  std::vector<uint64_t> v = {st.success_count, st.success_ns, st.fail_count, st.fail_ns,
                             st.input_ns,      st.infer_ns,   st.executions, st.inferences,
                             st.last_ms,       st.batches.size()};
  for (auto& kv : st.batches) {
    v.push_back(static_cast<uint64_t>(kv.first));
    v.push_back(kv.second.first);
    v.push_back(kv.second.second);
  }
  if (static_cast<int>(v.size()) > cap) return -1;
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  uint64_t last = st.last_ms;
  st = LaneStats();
  st.last_ms = last;
  return static_cast<int>(v.size());
}

// Requests the lane answered so far (any thread).
unsigned long long hepinfer_lane_answered(void* handle, unsigned long long id) {
  auto lane = find_lane(static_cast<Server*>(handle), id);
  if (!lane) return 0;
  std::lock_guard<std::mutex> lock(lane->mu);
  return lane->answered;
}

}  // extern "C"
