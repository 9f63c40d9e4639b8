// Passphrase input for sluisctl: terminal without echo, or a file.
#include "sluisctl/passphrase.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace sluis::ctl {
namespace {

// Reads one line into guarded memory, byte by byte, so the passphrase never sits in a
// std::string or stdio buffer we do not control. Returns the number of bytes read.
std::size_t read_line(int fd, crypto::SecretBuffer& buf) {
  auto out = buf.reveal_mut();
  std::size_t n = 0;
  for (;;) {
    char c = 0;
    const ssize_t r = ::read(fd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || c == '\n') break;
    if (c == '\r') continue;
    if (n == out.size()) throw std::runtime_error("the passphrase is longer than 1024 bytes");
    out[n++] = static_cast<std::uint8_t>(c);
  }
  return n;
}

constexpr std::size_t kMaxPassphrase = 1024;

crypto::SecretBuffer trimmed(const crypto::SecretBuffer& buf, std::size_t n) {
  if (n == 0) throw std::runtime_error("the passphrase is empty; choose a long passphrase");
  return crypto::SecretBuffer::copy_of(buf.reveal().first(n));
}

crypto::SecretBuffer prompt_once(std::string_view prompt) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error(
        "no terminal to ask for the passphrase; pass --passphrase-file FILE instead");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  (void)!::write(fd, prompt.data(), prompt.size());
  termios old{};
  const bool is_tty = ::tcgetattr(fd, &old) == 0;
  if (is_tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  crypto::SecretBuffer buf(kMaxPassphrase);
  std::size_t n = 0;
  try {
    n = read_line(fd, buf);
  } catch (...) {
    if (is_tty) ::tcsetattr(fd, TCSAFLUSH, &old);
    throw;
  }
  if (is_tty) ::tcsetattr(fd, TCSAFLUSH, &old);
  (void)!::write(fd, "\n", 1);
  return trimmed(buf, n);
}

}  // namespace

crypto::SecretBuffer read_passphrase(const std::optional<std::string>& file,
                                     std::string_view prompt, bool confirm) {
  if (file) {
    const int fd = ::open(file->c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw std::runtime_error("cannot read the passphrase file " + *file + ": " +
                               std::strerror(errno));
    }
    crypto::SecretBuffer buf(kMaxPassphrase);
    std::size_t n = 0;
    try {
      n = read_line(fd, buf);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    return trimmed(buf, n);
  }
  auto first = prompt_once(prompt);
  if (confirm) {
    auto second = prompt_once("Repeat the passphrase: ");
    if (!(first == second)) throw std::runtime_error("the two passphrases differ; try again");
  }
  return first;
}

}  // namespace sluis::ctl
