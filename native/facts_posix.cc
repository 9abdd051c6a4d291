// Facts every POSIX platform reads the same way (Linux, macOS): SO_ERROR,
// the buffers, the local and peer addresses. Each reads and reports.
#include <errno.h>
#include <cstring>

#ifdef __linux__
#include <linux/sock_diag.h>  // SO_MEMINFO's slots
#endif

#include "address.h"
#include "facts.h"

namespace sockprobe {

int ReadSoError(int fd, int* readErr) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) != 0) {
    *readErr = errno;
    return 0;
  }
  *readErr = 0;
  return value;
}

namespace {
int SockOptInt(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) != 0) return -1;
  return value;
}
}  // namespace

void ReadBuffers(int fd, int* sndbuf, int* rcvbuf) {
#ifdef SO_MEMINFO
  // Both in one call (Linux 4.12+): SO_MEMINFO's SNDBUF and RCVBUF slots are
  // the same sk_sndbuf and sk_rcvbuf that SO_SNDBUF and SO_RCVBUF read.
  uint32_t mem[SK_MEMINFO_VARS];
  socklen_t len = sizeof(mem);
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 && len >= (SK_MEMINFO_SNDBUF + 1) * sizeof(uint32_t)) {
    *sndbuf = static_cast<int>(mem[SK_MEMINFO_SNDBUF]);
    *rcvbuf = static_cast<int>(mem[SK_MEMINFO_RCVBUF]);
    return;
  }
#endif
  *sndbuf = SockOptInt(fd, SOL_SOCKET, SO_SNDBUF);
  *rcvbuf = SockOptInt(fd, SOL_SOCKET, SO_RCVBUF);
}

bool ReadLocalAddress(int fd, std::string* address, int* port) {
  sockaddr_storage local;
  socklen_t len = sizeof(local);
  std::memset(&local, 0, sizeof(local));
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
  *address = FormatAddress(reinterpret_cast<sockaddr*>(&local), len, port);
  return true;
}

bool HasPeer(int fd) {
  sockaddr_storage peer;
  socklen_t len = sizeof(peer);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
}

}  // namespace sockprobe
