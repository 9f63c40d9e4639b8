// The operator socket: AF_UNIX, owner-only, peer-checked, one JSON line each way per connection.
#include "sluis/ops/operator_channel.hpp"

#include "sluis/ops/operator.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

namespace sluis::ops {
namespace {

namespace fs = std::filesystem;

/// A file descriptor closed when it goes.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

bool make_address(const fs::path& path, sockaddr_un& addr) {
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  const std::string& s = path.native();
  if (s.empty() || s.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
  return true;
}

/// Connects to the socket at `path`; -1 with errno set when it cannot.
Fd connect_to(const fs::path& path) {
  sockaddr_un addr{};
  if (!make_address(path, addr)) {
    errno = ENAMETOOLONG;
    return Fd();
  }
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fd;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return Fd();
  }
  return fd;
}

/// Milliseconds left until `deadline` (0 when past).
int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(std::min<long long>(left.count(), 1 << 30)) : 0;
}

/// Reads up to a newline or end of stream, at most `max` bytes, before `deadline`. False on a
/// timeout, an error or an overlong line.
bool read_line(int fd, std::string& out, std::size_t max,
               std::chrono::steady_clock::time_point deadline) {
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(buf, static_cast<std::size_t>(n));
    if (const auto nl = out.find('\n'); nl != std::string::npos) {
      out.resize(nl);
      return true;
    }
    if (out.size() > max) return false;
  }
}

bool write_all(int fd, std::string_view data, std::chrono::steady_clock::time_point deadline) {
  while (!data.empty()) {
    pollfd p{fd, POLLOUT, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string refusal_line(std::string_view sentence) {
  return std::string(R"({"ok":false,"code":"not-permitted","error":")") + std::string(sentence) +
         "\"}\n";
}

}  // namespace

struct OperatorChannel::Impl {
  OperatorChannelOptions options;
  Fd listener;
  Fd wake_read;
  Fd wake_write;
  std::thread thread;

  void serve(int client) const {
    ucred cred{};
    socklen_t len = sizeof cred;
    const auto deadline = std::chrono::steady_clock::now() + options.read_timeout;
    if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != ::geteuid() && cred.uid != 0)) {
      (void)write_all(client,
                      refusal_line("only the gateway's own account and root may use this socket"),
                      deadline);
      return;
    }
    std::string request;
    if (!read_line(client, request, kMaxOperatorRequest, deadline)) {
      (void)write_all(client,
                      "{\"ok\":false,\"code\":\"bad-request\",\"error\":\"no complete "
                      "request line arrived in time, or it was larger than 64 KiB\"}\n",
                      deadline);
      return;
    }
    if (request.empty()) return;  // a liveness probe: connected and closed
    const PeerAccount peer{cred.uid, cred.pid, account_name(cred.uid)};
    std::string answer = options.handler(request, peer);
    // An erasure request carries the client's identifier: do not leave it in freed memory.
    ::explicit_bzero(request.data(), request.size());
    answer += '\n';
    // The act is done; the answer gets as long as the act took plus the read timeout.
    (void)write_all(client, answer, std::chrono::steady_clock::now() + options.read_timeout);
  }

  void loop() const {
    for (;;) {
      pollfd fds[2] = {{listener.get(), POLLIN, 0}, {wake_read.get(), POLLIN, 0}};
      const int ready = ::poll(fds, 2, -1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0 || (fds[1].revents & POLLIN) != 0) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      Fd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client.valid()) continue;
      serve(client.get());
    }
  }
};

OperatorChannel::OperatorChannel(OperatorChannelOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  const fs::path& path = impl_->options.socket;
  sockaddr_un addr{};
  if (!make_address(path, addr)) {
    throw std::runtime_error("the operator socket path " + path.string() +
                             " is empty or too long for a local socket; set [paths] "
                             "operator_socket to a shorter path");
  }
  std::error_code ec;
  const fs::path dir = path.parent_path();
  fs::create_directories(dir, ec);
  if (ec || ::chmod(dir.c_str(), 0700) != 0) {
    throw std::runtime_error("cannot create the operator socket's directory " + dir.string() +
                             " with mode 0700; check its permissions or [paths] operator_socket");
  }
  if (fs::exists(fs::symlink_status(path, ec))) {
    if (connect_to(path).valid()) {
      throw std::runtime_error("another process answers on the operator socket " + path.string() +
                               " (is another sluisd running on this home?)");
    }
    fs::remove(path, ec);  // stale, left by a gateway that did not stop cleanly
  }
  impl_->listener = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const mode_t old = ::umask(0177);
  const int bound =
      impl_->listener.valid()
          ? ::bind(impl_->listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr)
          : -1;
  ::umask(old);
  if (bound != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(impl_->listener.get(), 16) != 0) {
    throw std::runtime_error("cannot listen on the operator socket " + path.string() + ": " +
                             std::strerror(errno) + "; check [paths] operator_socket");
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw std::runtime_error("cannot create the operator channel's wake-up pipe");
  }
  impl_->wake_read = Fd(pipe_fds[0]);
  impl_->wake_write = Fd(pipe_fds[1]);
  impl_->thread = std::thread([p = impl_.get()] { p->loop(); });
}

OperatorChannel::~OperatorChannel() {
  const char stop = 's';
  (void)!::write(impl_->wake_write.get(), &stop, 1);
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->listener.reset();
  std::error_code ec;
  fs::remove(impl_->options.socket, ec);
}

std::string account_name(unsigned uid) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found) == 0 &&
      found != nullptr) {
    return found->pw_name;
  }
  return "uid-" + std::to_string(uid);
}

OperatorCall call_operator_channel(const fs::path& socket, std::string_view request,
                                   std::chrono::milliseconds timeout) {
  OperatorCall call;
  std::error_code ec;
  if (socket.empty() || !fs::exists(fs::symlink_status(socket, ec))) {
    call.outcome = OperatorCall::Outcome::no_gateway;
    return call;
  }
  Fd fd = connect_to(socket);
  if (!fd.valid()) {
    const int e = errno;
    if (e == ECONNREFUSED || e == ENOENT) {
      call.outcome = OperatorCall::Outcome::no_gateway;
    } else {
      call.error = "cannot connect to the operator socket " + socket.string() + ": " +
                   std::strerror(e) + " (run sluisctl as the gateway's account or root)";
    }
    return call;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line(request);
  line += '\n';
  if (!write_all(fd.get(), line, deadline)) {
    call.error = "the gateway did not take the request on " + socket.string();
    return call;
  }
  ::shutdown(fd.get(), SHUT_WR);
  if (!read_line(fd.get(), call.answer, 16 * 1024 * 1024, deadline) || call.answer.empty()) {
    call.error = "the gateway did not answer on " + socket.string() +
                 " in time; the act may still complete — check 'sluisctl audit query'";
    return call;
  }
  call.outcome = OperatorCall::Outcome::answered;
  return call;
}

}  // namespace sluis::ops
