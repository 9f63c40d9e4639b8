// JSON-line log sinks: one line per request or event, fields limited by their types.
#include "sluis/server/request_log.hpp"

#include "sluis/server/ca.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

namespace sluis::server {
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
  // One write(2) per line (line and newline together), so lines from several processes
  // appending to one file do not interleave.
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line);
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

namespace {

/// One JSON log line, written field by field into a buffer reserved once (a request line costs
/// one allocation, not a JSON tree). Values are our literals and checked tokens; they are still
/// escaped, so a line is valid JSON whatever they hold.
class LogLine {
 public:
  LogLine(std::chrono::system_clock::time_point time, std::string_view level,
          std::string_view event) {
    line_.reserve(320);
    line_ += "{\"time\":\"";
    line_ += rfc3339(time);
    line_ += '"';
    text("level", level);
    text("event", event);
  }
  void text(std::string_view key, std::string_view value) {
    name(key);
    line_ += '"';
    for (const char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        line_ += '\\';
        line_ += c;
      } else if (u < 0x20) {
        static constexpr char kHex[] = "0123456789abcdef";
        line_ += "\\u00";
        line_ += kHex[u >> 4];
        line_ += kHex[u & 0xf];
      } else {
        line_ += c;
      }
    }
    line_ += '"';
  }
  void number(std::string_view key, std::uint64_t value) {
    name(key);
    line_ += std::to_string(value);
  }
  [[nodiscard]] std::string finish() && {
    line_ += '}';
    return std::move(line_);
  }

 private:
  void name(std::string_view key) {
    line_ += ",\"";
    line_ += key;
    line_ += "\":";
  }
  std::string line_;
};

}  // namespace

void LogSink::request(const RequestRecord& r) {
  if (!enabled(LogLevel::info)) return;
  LogLine o(r.time, r.status >= 500 ? "error" : "info", "request");
  o.text("request_id", is_safe_token(r.request_id) ? r.request_id : std::string_view("<invalid>"));
  o.text("partner", r.partner_id.empty()                ? std::string_view("-")
                    : is_valid_partner_id(r.partner_id) ? r.partner_id
                                                        : std::string_view("<invalid>"));
  o.text("worker", r.worker_id.empty()          ? std::string_view("-")
                   : is_safe_token(r.worker_id) ? r.worker_id
                                                : std::string_view("<invalid>"));
  o.text("method", r.method.empty()         ? std::string_view("-")
                   : known_method(r.method) ? r.method
                                            : std::string_view("<other>"));
  o.text("route", r.route.view());
  o.number("status", static_cast<std::uint64_t>(r.status < 0 ? 0 : r.status));
  o.number("latency_us", r.latency_us);
  o.number("bytes_in", r.bytes_in);
  o.number("bytes_out", r.bytes_out);
  if (!r.cause.view().empty()) {
    o.text("cause", r.cause.view());
  } else if (r.status >= 500) {
    o.text("cause", "unrecorded");  // a 5xx whose producer named no cause: a bug to fix
  }
  emit(std::move(o).finish());
}

void LogSink::event(LogLevel level, LogLiteral event, LogLiteral reason) {
  if (!enabled(level)) return;
  LogLine o(std::chrono::system_clock::now(), to_string(level), event.view());
  if (!reason.view().empty()) o.text("reason", reason.view());
  emit(std::move(o).finish());
}

void LogSink::event(LogLevel level, LogLiteral event, LogLiteral reason,
                    std::initializer_list<LogNumber> numbers) {
  if (!enabled(level)) return;
  LogLine o(std::chrono::system_clock::now(), to_string(level), event.view());
  if (!reason.view().empty()) o.text("reason", reason.view());
  for (const LogNumber& n : numbers)
    o.number(n.name.view(), n.value);
  emit(std::move(o).finish());
}

void LogSink::bug(LogLiteral what, LogLiteral where) {
  LogLine o(std::chrono::system_clock::now(), "error", "bug");
  o.text("reason", what.view());
  o.text("where", where.view());
  emit(std::move(o).finish());
}

}  // namespace sluis::server
