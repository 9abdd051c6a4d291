// The Linux readiness backend: one epoll set per environment, itself watched
// by one uv_poll_t on Node's loop. Every probe's socket sits in the set with
// its token as data.ptr; one wake-up of the uv_poll drains up to
// kEventsPerWait ready sockets per epoll_wait, and the sink hands that whole
// batch to JavaScript at once.
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend.h"

namespace sockprobe {

namespace {

constexpr int kEventsPerWait = 512;

class EpollBackend final : public Backend {
 public:
  ~EpollBackend() override { Close(); }

  const char* Name() const override { return "epoll"; }

  int Open(uv_loop_t* loop, ReadinessSink* sink, Closer* closer) override {
    if (epfd_ >= 0) return 0;
    if (loop == nullptr) return EINVAL;
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return errno;
    uv_poll_t* watch = new uv_poll_t;
    int err = uv_poll_init(loop, watch, fd);
    if (err != 0) {
      delete watch;
      close(fd);
      return -err;
    }
    watch->data = this;
    err = uv_poll_start(watch, UV_READABLE, OnEpoll);
    if (err != 0) {
      closer->Close<uv_poll_t>(reinterpret_cast<uv_handle_t*>(watch));
      close(fd);
      return -err;
    }
    uv_unref(reinterpret_cast<uv_handle_t*>(watch));
    epfd_ = fd;
    watch_ = watch;
    sink_ = sink;
    closer_ = closer;
    return 0;
  }

  int Add(int fd, unsigned interest, void* token, void** /*slot*/) override {
    epoll_event ev;
    ev.events = ((interest & kWantWritable) ? EPOLLOUT : 0u) | ((interest & kWantReadable) ? (EPOLLIN | EPOLLRDHUP) : 0u);
    ev.data.ptr = token;
    // Reachable only under kernel exhaustion: ADD of a new fd fails with
    // ENOMEM, or ENOSPC past fs.epoll.max_user_watches. EEXIST cannot happen
    // (the fd is new, and a finished probe leaves the set before its fd is
    // closed or handed on).
    return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
  }

  void Remove(int fd, void** /*slot*/, bool closing) override {
    // close() drops the fd from the set (no dup of it exists), so a socket
    // about to be closed costs no syscall here. One that lives on must leave
    // the set now: the registration belongs to the open file, not the number.
    if (!closing) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  }

  void Ref() override {
    if (watch_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(watch_));
  }

  void Unref() override {
    if (watch_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(watch_));
  }

  void Close() override {
    if (watch_ == nullptr) return;
    closer_->Close<uv_poll_t>(reinterpret_cast<uv_handle_t*>(watch_));
    close(epfd_);
    watch_ = nullptr;
    epfd_ = -1;
    sink_ = nullptr;
  }

 private:
  static void OnEpoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<EpollBackend*>(handle->data);
    if (status < 0) return;
    epoll_event evs[kEventsPerWait];
    for (int round = 0; round < 8 && self->sink_ != nullptr; round++) {
      int n;
      do {
        n = epoll_wait(self->epfd_, evs, kEventsPerWait, 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) break;
      for (int i = 0; i < n; i++) {
        uint32_t e = evs[i].events;
        unsigned r = ((e & EPOLLOUT) ? kReadyWritable : 0u) | ((e & EPOLLIN) ? kReadyReadable : 0u) |
                     ((e & EPOLLERR) ? kReadyError : 0u) | ((e & (EPOLLHUP | EPOLLRDHUP)) ? kReadyHangup : 0u);
        self->sink_->OnReady(evs[i].data.ptr, r);
      }
      // JavaScript runs here (completions): it may cancel probes, but every
      // token of this batch has been handled already.
      self->sink_->OnBatchEnd();
      if (n < kEventsPerWait) break;
    }
  }

  int epfd_ = -1;
  uv_poll_t* watch_ = nullptr;
  ReadinessSink* sink_ = nullptr;
  Closer* closer_ = nullptr;
};

}  // namespace

Backend* NewEpollBackend() { return new EpollBackend(); }

}  // namespace sockprobe
