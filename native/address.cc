// Address parsing and formatting: numeric IPv4/IPv6 (with a %zone) and Unix
// paths, to and from sockaddr. POSIX and Winsock; no N-API, no policy.
#include "address.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace sockprobe {

namespace {

// "fe80::1%eth0" or "fe80::1%2": the scope id for the zone, or 0 when unknown.
uint32_t ZoneToScopeId(const std::string& zone) {
  if (zone.empty()) return 0;
  char* end = nullptr;
  unsigned long n = std::strtoul(zone.c_str(), &end, 10);
  if (end != nullptr && *end == '\0' && n <= UINT32_MAX) return static_cast<uint32_t>(n);
#ifdef _WIN32
  return 0;  // numeric zones only: a name would need iphlpapi's if_nametoindex
#else
  return if_nametoindex(zone.c_str());
#endif
}

}  // namespace

int ParseTarget(int family, const std::string& address, int port, Target* out) {
  std::memset(out, 0, sizeof(*out));
  out->family = family;
  // A NUL inside the string would silently shorten it for the C calls below.
  if (address.find('\0') != std::string::npos) return kErrInval;
  if (family == AF_UNIX) {
    auto* un = reinterpret_cast<sockaddr_un*>(&out->addr);
    if (address.empty()) return kErrInval;
    if (address.size() >= sizeof(un->sun_path)) return kErrNameTooLong;
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, address.data(), address.size());
    out->len = static_cast<socklen_type>(offsetof(sockaddr_un, sun_path) + address.size() + 1);
    return 0;
  }
  if (port < 0 || port > 65535) return kErrInval;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out->addr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, address.c_str(), &sin->sin_addr) != 1) return kErrInval;
    out->len = sizeof(sockaddr_in);
    return 0;
  }
  if (family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out->addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    std::string host = address;
    size_t pct = host.find('%');
    if (pct != std::string::npos) {
      uint32_t scope = ZoneToScopeId(host.substr(pct + 1));
      if (scope == 0) return kErrNoSuchZone;
      sin6->sin6_scope_id = scope;
      host.resize(pct);
    }
    if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) return kErrInval;
    out->len = sizeof(sockaddr_in6);
    return 0;
  }
  return kErrAfNoSupport;
}

std::string FormatAddress(const sockaddr* sa, socklen_type len, int* port) {
  char buf[INET6_ADDRSTRLEN + 64] = {0};
  *port = 0;
  if (sa == nullptr || len < static_cast<socklen_type>(sizeof(sa->sa_family))) return std::string();
  switch (sa->sa_family) {
    case AF_INET: {
      if (len < static_cast<socklen_type>(sizeof(sockaddr_in))) return std::string();
      auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
      inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
      *port = ntohs(sin->sin_port);
      return buf;
    }
    case AF_INET6: {
      if (len < static_cast<socklen_type>(sizeof(sockaddr_in6))) return std::string();
      auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
      inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
      *port = ntohs(sin6->sin6_port);
      return buf;
    }
    case AF_UNIX: {
      auto* un = reinterpret_cast<const sockaddr_un*>(sa);
      size_t max = static_cast<size_t>(len) - offsetof(sockaddr_un, sun_path);
      if (static_cast<size_t>(len) <= offsetof(sockaddr_un, sun_path)) return std::string();
      return std::string(un->sun_path, strnlen(un->sun_path, max));
    }
    default:
      return std::string();
  }
}

}  // namespace sockprobe
