// The limit sockprobe is measured against: a plain C prober doing the least a
// correct TCP probe can do (non-blocking connect, epoll, SO_ERROR, close; as
// sockprobe does, SO_LINGER {1,0} before closing a connection, so that it ends
// with an RST and no TIME_WAIT, and none for a failed attempt, which the kernel
// closes silently either way), and a plain C listener that accepts and
// closes as fast as it can, for the "open" runs.
//
//   cprober probe ADDRS PORT N C [TIMEOUT_MS]  ADDRS: comma-separated IPv4
//       Prints one JSON line: {"probes":N,"seconds":s,"rate":r,"open":..,"refused":..,"timeout":..,"other":..}
//       With CPROBER_FULL=1 in the environment it also makes the syscalls sockprobe
//       makes for its report (IP_RECVERR, the error queue, TCP_INFO): the limit
//       for a prober that tells what sockprobe tells.
//   cprober listen ADDR
//       Prints the port it listens on, then accepts and closes until stdin closes.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void die(const char* what) {
  perror(what);
  exit(2);
}

struct slot {
  int fd;
  double deadline;
};

static int listen_main(const char* addr) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) die("inet_pton");
  if (bind(ls, (struct sockaddr*)&sa, sizeof(sa)) != 0) die("bind");
  if (listen(ls, 65535) != 0) die("listen");
  socklen_t len = sizeof(sa);
  getsockname(ls, (struct sockaddr*)&sa, &len);
  printf("%d\n", ntohs(sa.sin_port));
  fflush(stdout);
  struct pollfd pf[2] = {{ls, POLLIN, 0}, {0, POLLIN, 0}};
  for (;;) {
    if (poll(pf, 2, -1) < 0 && errno != EINTR) die("poll");
    if (pf[1].revents) {  // stdin closed or readable: the driver is done
      char buf[64];
      if (read(0, buf, sizeof(buf)) <= 0) return 0;
    }
    if (pf[0].revents & POLLIN) {
      for (;;) {
        int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) break;
        close(c);
      }
    }
  }
}

static int probe_main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: cprober probe ADDRS PORT N C [TIMEOUT_MS]\n");
    return 2;
  }
  struct sockaddr_in addrs[64];
  int naddrs = 0;
  char* list = strdup(argv[2]);
  for (char* tok = strtok(list, ","); tok && naddrs < 64; tok = strtok(NULL, ",")) {
    memset(&addrs[naddrs], 0, sizeof(addrs[naddrs]));
    addrs[naddrs].sin_family = AF_INET;
    addrs[naddrs].sin_port = htons((uint16_t)atoi(argv[3]));
    if (inet_pton(AF_INET, tok, &addrs[naddrs].sin_addr) != 1) die("inet_pton");
    naddrs++;
  }
  long n = atol(argv[4]);
  long c = atol(argv[5]);
  double timeout = (argc > 6 ? atof(argv[6]) : 2000) / 1000.0;
  if (n <= 0 || c <= 0 || naddrs == 0) return 2;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  // Indexed by fd: fds are small integers and reused at once.
  size_t cap = 1 << 20;
  struct slot* slots = calloc(cap, sizeof(*slots));
  long started = 0, done = 0, inflight = 0, open = 0, refused = 0, timedout = 0, other = 0;
  struct linger lg = {1, 0};
  int full = getenv("CPROBER_FULL") != NULL && strcmp(getenv("CPROBER_FULL"), "1") == 0;
  int one = 1;
  struct epoll_event evs[1024];
  double t0 = now_s();
  double c0 = cpu_s();
  while (done < n) {
    while (inflight < c && started < n) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) die("socket");
      if (full) setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
      struct sockaddr_in* to = &addrs[started % naddrs];
      started++;
      int rc = connect(fd, (struct sockaddr*)to, sizeof(*to));
      if (rc == 0 || errno != EINPROGRESS) {
        if (rc == 0) {
          setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
          open++;
        } else if (errno == ECONNREFUSED) refused++;
        else other++;
        close(fd);
        done++;
        continue;
      }
      struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
      if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
      slots[fd].fd = fd;
      slots[fd].deadline = now_s() + timeout;
      inflight++;
    }
    int k = epoll_wait(ep, evs, 1024, 100);
    for (int i = 0; i < k; i++) {
      int fd = evs[i].data.fd;
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (full) {
        char cbuf[512];
        struct msghdr msg = {0};
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        if (err != 0) recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
        struct tcp_info ti;
        socklen_t tlen = sizeof(ti);
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen);
      }
      if (err == 0) {
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        open++;
      } else if (err == ECONNREFUSED) refused++;
      else other++;
      close(fd);
      slots[fd].fd = 0;
      inflight--;
      done++;
    }
    if (k == 0) {  // only when idle: a slow sweep is fine for a bounded benchmark
      double t = now_s();
      for (size_t fd = 0; fd < cap; fd++) {
        if (slots[fd].fd > 0 && slots[fd].deadline <= t) {
          close((int)fd);
          slots[fd].fd = 0;
          inflight--;
          done++;
          timedout++;
        }
      }
    }
  }
  double secs = now_s() - t0;
  double cpu = cpu_s() - c0;
  printf("{\"probes\":%ld,\"seconds\":%.6f,\"cpu\":%.6f,\"rate\":%.1f,\"cpuRate\":%.1f,\"open\":%ld,\"refused\":%ld,\"timeout\":%ld,\"other\":%ld}\n", n,
         secs, cpu, n / secs, n / cpu, open, refused, timedout, other);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "listen") == 0) return listen_main(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "probe") == 0) return probe_main(argc, argv);
  fprintf(stderr, "usage: cprober probe ADDRS PORT N C [TIMEOUT_MS] | cprober listen ADDR\n");
  return 2;
}
