// JSON-line log sinks: one line per request or event, fields limited by their types.
#include "sluis/gateway/request_log.hpp"

#include "sluis/gateway/ca.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

namespace sluis::gateway {
namespace {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

bool known_method(std::string_view m) noexcept {
  for (const std::string_view k : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (m == k) return true;
  }
  return false;
}

void write_fd(int fd, std::string_view line) {
  std::string buf(line);
  buf.push_back('\n');
  std::size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk must not take the gateway down; nothing else to do
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::shared_ptr<LogSink> LogSink::open(const std::string& destination, LogLevel level) {
  if (destination == "stderr") {
    return std::make_shared<LogSink>([](std::string_view l) { write_fd(2, l); }, level);
  }
  if (destination == "stdout") {
    return std::make_shared<LogSink>([](std::string_view l) { write_fd(1, l); }, level);
  }
  const int fd = ::open(destination.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw ConfigError(destination +
                      ": cannot open the log file for appending; check the directory exists and "
                      "sluisd may write there, or set [log] destination = \"stderr\"");
  }
  auto owner = std::shared_ptr<int>(new int(fd), [](int* p) {
    ::close(*p);
    delete p;
  });
  return std::make_shared<LogSink>([owner](std::string_view l) { write_fd(*owner, l); }, level);
}

std::shared_ptr<LogSink> LogSink::callback(std::function<void(std::string_view)> fn,
                                           LogLevel level) {
  return std::make_shared<LogSink>(std::move(fn), level);
}

void LogSink::emit(const std::string& line) {
  const std::lock_guard lock(mutex_);
  write_(line);
}

void LogSink::request(const RequestRecord& r) {
  if (!enabled(LogLevel::info)) return;
  boost::json::object o;
  o["time"] = rfc3339(r.time);
  o["level"] = r.status >= 500 ? "error" : "info";
  o["event"] = "request";
  o["request_id"] = is_safe_token(r.request_id) ? r.request_id : std::string_view("<invalid>");
  o["partner"] = r.partner_id.empty()                ? std::string_view("-")
                 : is_valid_partner_id(r.partner_id) ? r.partner_id
                                                     : std::string_view("<invalid>");
  o["worker"] = r.worker_id.empty()          ? std::string_view("-")
                : is_safe_token(r.worker_id) ? r.worker_id
                                             : std::string_view("<invalid>");
  o["method"] = r.method.empty()         ? std::string_view("-")
                : known_method(r.method) ? r.method
                                         : std::string_view("<other>");
  o["route"] = r.route.view();
  o["status"] = r.status;
  o["latency_us"] = r.latency_us;
  o["bytes_in"] = r.bytes_in;
  o["bytes_out"] = r.bytes_out;
  if (!r.cause.view().empty()) {
    o["cause"] = r.cause.view();
  } else if (r.status >= 500) {
    o["cause"] = "unrecorded";  // a 5xx whose producer named no cause: a bug to fix
  }
  emit(boost::json::serialize(o));
}

void LogSink::event(LogLevel level, LogLiteral event, LogLiteral reason) {
  if (!enabled(level)) return;
  boost::json::object o;
  o["time"] = rfc3339(std::chrono::system_clock::now());
  o["level"] = to_string(level);
  o["event"] = event.view();
  if (!reason.view().empty()) o["reason"] = reason.view();
  emit(boost::json::serialize(o));
}

}  // namespace sluis::gateway
