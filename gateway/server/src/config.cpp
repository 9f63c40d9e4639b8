// The transport's configuration: derived limits, thread counts, address checks.
#include "sluis/server/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <thread>

namespace sluis::server {

RequestLimits ServerConfig::request_limits() const {
  RequestLimits l;
  l.header_bytes = limits.header_limit_bytes;
  l.body_bytes = limits.body_limit_bytes;
  l.browser = mode != ListenerMode::partner_mtls;
  return l;
}

unsigned ServerConfig::effective_io_threads() const {
  return io_threads != 0 ? io_threads : std::max(1u, std::thread::hardware_concurrency());
}

unsigned ServerConfig::effective_handler_threads() const {
  constexpr unsigned kPerCore = 16;
  constexpr unsigned kMaxDefault = 256;  // the most the key itself accepts
  return handler_threads != 0
             ? handler_threads
             : std::min(kMaxDefault, kPerCore * std::max(1u, std::thread::hardware_concurrency()));
}

bool is_loopback_address(std::string_view address) noexcept {
  const std::string s(address);
  unsigned char buf[16] = {};
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return buf[0] == 127;
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    for (int i = 0; i < 15; ++i) {
      if (buf[i] != 0) return false;
    }
    return buf[15] == 1;
  }
  return false;
}

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
  case LogLevel::debug: return "debug";
  case LogLevel::info: return "info";
  case LogLevel::warn: return "warn";
  case LogLevel::error: return "error";
  }
  return "info";
}

}  // namespace sluis::server
