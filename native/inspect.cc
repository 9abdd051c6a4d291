// inspect(fd, takeError) -> raw facts about a socket someone else owns.
//
// Every call here only asks the kernel: getsockopt, ioctl(SIOC*Q), a poll()
// with a zero timeout. One exception is opt-in: reading SO_ERROR clears the
// pending error (the kernel has no way to peek at it), so it is read only when
// TypeScript asks (takeError) and poll() says an error is pending.
//
// Whatever reaches it (a closed fd, a file, a UDP socket, a number that is not
// a descriptor at all), the answer is an object with an errno, never a crash.
// On Windows `fd` is a SOCKET's value (WSAPoll stands in for poll()); Winsock
// answers WSAENOTSOCK for anything else.

#include "inspect.h"

#ifndef _WIN32
#include <poll.h>
#endif

#include <cmath>
#include <cstdint>

#include "address.h"
#include "facts.h"
#include "platform.h"

namespace sockprobe {

namespace {

int GetInt(int fd, int level, int name, int* value) {
  socklen_type len = sizeof(*value);
  *value = 0;
  return getsockopt(Sock(fd), level, name, reinterpret_cast<char*>(value), &len) == 0 ? 0 : LastSocketError();
}

Napi::Value Inspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  // TypeScript validates; this only keeps memory safe and the answer honest.
  int fd = -1;
  if (info.Length() >= 1 && info[0].IsNumber()) {
    double d = info[0].As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && d >= 0 && d <= INT32_MAX && d == std::floor(d)) fd = static_cast<int>(d);
  }
  bool takeError = info.Length() >= 2 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  if (fd < 0) {
    out.Set("errno", kErrBadF);
    return out;
  }

  int type = 0;
  int err = GetInt(fd, SOL_SOCKET, SO_TYPE, &type);
  if (err != 0) {  // EBADF for a closed descriptor, ENOTSOCK for a file or pipe
    out.Set("errno", err);
    return out;
  }
  int domain = 0;
#ifdef SO_DOMAIN
  if (GetInt(fd, SOL_SOCKET, SO_DOMAIN, &domain) != 0) domain = 0;
#else
  sockaddr_storage ss;
  socklen_type sslen = sizeof(ss);
  if (getsockname(Sock(fd), reinterpret_cast<sockaddr*>(&ss), &sslen) == 0) domain = ss.ss_family;
#endif
  int protocol = -1;
#ifdef SO_PROTOCOL
  if (GetInt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol) != 0) protocol = -1;
#endif
  out.Set("errno", 0);
  out.Set("type", type);
  out.Set("domain", domain == AF_INET ? 4 : domain == AF_INET6 ? 6 : domain == AF_UNIX ? 0 : -1);
  out.Set("protocol", protocol);

  int sndbuf = -1;
  int rcvbuf = -1;
  if (GetInt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf) != 0) sndbuf = -1;
  if (GetInt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf) != 0) rcvbuf = -1;
  out.Set("sndbuf", sndbuf);
  out.Set("rcvbuf", rcvbuf);

  // POLLERR/POLLHUP are always reported; nothing is waited for or consumed.
#ifdef _WIN32
  WSAPOLLFD p;
  p.fd = Sock(fd);
  p.events = POLLRDNORM;  // WSAPoll wants some event; only POLLERR/POLLHUP are read
  p.revents = 0;
  int pr = WSAPoll(&p, 1, 0);
#else
  pollfd p;
  p.fd = fd;
#ifdef POLLRDHUP
  p.events = POLLRDHUP;
#else
  p.events = 0;
#endif
  p.revents = 0;
  int pr;
  do {
    pr = poll(&p, 1, 0);
  } while (pr < 0 && errno == EINTR);
#endif
  short revents = pr > 0 ? p.revents : 0;
  out.Set("pollErr", (revents & POLLERR) != 0);
  out.Set("pollHup", (revents & POLLHUP) != 0);
#ifdef POLLRDHUP
  out.Set("pollRdHup", (revents & POLLRDHUP) != 0);
#else
  out.Set("pollRdHup", false);
#endif
  if (takeError && (revents & POLLERR) != 0) {
    int soError = 0;
    if (GetInt(fd, SOL_SOCKET, SO_ERROR, &soError) == 0) out.Set("soError", soError);
  }

  bool tcp = type == SOCK_STREAM && (domain == AF_INET || domain == AF_INET6) &&
             (protocol == -1 || protocol == IPPROTO_TCP);
  if (!tcp) return out;

  Queues q = ReadQueues(fd);
  if (q.send >= 0) out.Set("sendQueue", static_cast<double>(q.send));
  if (q.notSent >= 0) out.Set("notSentQueue", static_cast<double>(q.notSent));
  if (q.recv >= 0) out.Set("recvQueue", static_cast<double>(q.recv));

  KernelTcpInfo ti;
  ReadKernelTcpInfo(fd, &ti);
  if (ti.err != 0) {
    out.Set("tcpErrno", ti.err);
    return out;
  }
  Napi::Object fields = Napi::Object::New(env);
  for (unsigned i = 0; i < ti.count; i++) {
    fields.Set(ti.fields[i].name, static_cast<double>(ti.fields[i].value));
  }
  out.Set("tcpInfoBytes", ti.bytes);
  out.Set("tcpi", fields);
  return out;
}

}  // namespace

void RegisterInspect(Napi::Env env, Napi::Object exports) {
  exports.Set("inspect", Napi::Function::New(env, Inspect, "inspect"));
}

}  // namespace sockprobe
