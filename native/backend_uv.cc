// The portable readiness backend: one libuv uv_poll_t per socket on Node's
// own loop, so the platform's own poller does the watching (kqueue on macOS,
// AFD on Windows, epoll on Linux, where SOCKPROBE_ENGINE=uv selects it). Every
// poll callback of one loop iteration reports its socket at once (OnReady);
// the batch is handed to JavaScript once, from a uv_check_t that runs right
// after the loop's poll phase, so a burst of completions still makes one
// dispatch as with the epoll backend.
//
// Lifetimes: uv_close is asynchronous, so each Watch (which holds its
// uv_poll_t) is freed in its close callback (the Closer's), never before. Remove() stops and
// closes the handle before the engine closes the descriptor: libuv's
// documented order ("the fd can be safely closed immediately after a call to
// uv_poll_stop() or uv_close()"), and never two active handles on one socket.
#include "backend.h"

#include <cstddef>
#include <new>

#include "platform.h"

namespace sockprobe {

namespace {

class UvBackend;

// One watched socket. `token` is cleared by Remove(); the struct lives on
// until libuv's close callback.
struct Watch {
  uv_poll_t poll;  // first: the Closer frees the Watch from its handle
  UvBackend* owner;
  void* token;
};
static_assert(offsetof(Watch, poll) == 0, "Closer::Close<Watch> needs the handle at the start");

class UvBackend final : public Backend {
 public:
  ~UvBackend() override { Close(); }

  const char* Name() const override { return "uv"; }

  int Open(uv_loop_t* loop, ReadinessSink* sink, Closer* closer) override {
    if (check_ != nullptr) return 0;
    if (loop == nullptr) return kErrInval;
    uv_check_t* check = new (std::nothrow) uv_check_t;
    if (check == nullptr) return kErrNoMem;
    uv_check_init(loop, check);  // cannot fail: it only fills the struct
    check->data = this;
    // Never keeps the loop alive by itself: the poll handles do, while a probe waits.
    uv_unref(reinterpret_cast<uv_handle_t*>(check));
    loop_ = loop;
    sink_ = sink;
    closer_ = closer;
    check_ = check;
    return 0;
  }

  int Add(int fd, unsigned interest, void* token, void** slot) override {
    Watch* w = new (std::nothrow) Watch;
    if (w == nullptr) return kErrNoMem;
    w->owner = this;
    w->token = token;
    w->poll.data = w;
#ifdef _WIN32
    int err = uv_poll_init_socket(loop_, &w->poll, Sock(fd));
#else
    int err = uv_poll_init(loop_, &w->poll, fd);
#endif
    if (err != 0) {
      // uv_poll_init fails before registering the handle with the loop: plain delete.
      delete w;
      return UvToErrno(err);
    }
    int events = ((interest & kWantWritable) ? UV_WRITABLE : 0) |
                 ((interest & kWantReadable) ? (UV_READABLE | UV_DISCONNECT) : 0);
    err = uv_poll_start(&w->poll, events, OnPoll);
    if (err != 0) {
      closer_->Close<Watch>(reinterpret_cast<uv_handle_t*>(&w->poll));
      return UvToErrno(err);
    }
    // An active poll handle keeps the loop alive: exactly while its probe is in flight.
    *slot = w;
    return 0;
  }

  void Remove(int /*fd*/, void** slot, bool /*closing*/) override {
    Watch* w = static_cast<Watch*>(*slot);
    if (w == nullptr) return;
    *slot = nullptr;
    uv_poll_stop(&w->poll);
    w->token = nullptr;
    closer_->Close<Watch>(reinterpret_cast<uv_handle_t*>(&w->poll));
  }

  // Each poll handle refs the loop while it exists: nothing more to do.
  void Ref() override {}
  void Unref() override {}

  void Close() override {
    if (check_ == nullptr) return;
    closer_->Close<uv_check_t>(reinterpret_cast<uv_handle_t*>(check_));
    check_ = nullptr;
    sink_ = nullptr;
    loop_ = nullptr;
    pending_ = false;
  }

 private:
  // libuv errors are negative; on Unix they are -errno, on Windows libuv's own
  // numbers (only reached under resource exhaustion).
  static int UvToErrno(int err) { return err < 0 ? -err : err; }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Watch* w = static_cast<Watch*>(handle->data);
    UvBackend* self = w->owner;
    if (w->token == nullptr || self->sink_ == nullptr) return;
    unsigned r = 0;
    if (status < 0) {
      r = kReadyError;  // e.g. Windows' AFD reporting the socket's error
    } else {
      if (events & UV_WRITABLE) r |= kReadyWritable;
      if (events & UV_READABLE) r |= kReadyReadable;
      if (events & UV_DISCONNECT) r |= kReadyHangup;
    }
    self->sink_->OnReady(w->token, r);
    if (!self->pending_ && self->check_ != nullptr) {
      self->pending_ = true;
      uv_check_start(self->check_, OnCheck);
    }
  }

  // Right after the poll phase: the batch of this iteration goes to
  // JavaScript at once. JavaScript may cancel probes there; every token of the
  // batch has been handled already.
  static void OnCheck(uv_check_t* handle) {
    UvBackend* self = static_cast<UvBackend*>(handle->data);
    uv_check_stop(handle);
    self->pending_ = false;
    if (self->sink_ != nullptr) self->sink_->OnBatchEnd();
  }

  ReadinessSink* sink_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  Closer* closer_ = nullptr;
  uv_check_t* check_ = nullptr;
  bool pending_ = false;
};

}  // namespace

Backend* NewUvBackend() { return new UvBackend(); }

}  // namespace sockprobe
