// The operator channel: a local (AF_UNIX) stream socket through which sluisctl asks a running
// sluisd to do operator acts. The socket file is mode 0600 in a directory sluisd keeps at 0700,
// and every connection's peer is checked (SO_PEERCRED): only sluisd's own account and root are
// answered. One request per connection: a JSON line in, a JSON line out (see operator.hpp).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sluis::ops {

/// The account a connection came from, as the kernel reports it.
struct PeerAccount {
  unsigned uid = 0;
  int pid = 0;
  std::string user;  ///< the account's name, or "uid-<n>" when it has none
};

/// Answers a request line (without its newline) with an answer line (without its newline).
using OperatorHandler = std::function<std::string(std::string_view request, const PeerAccount&)>;

struct OperatorChannelOptions {
  std::filesystem::path socket;  ///< where to listen (its directory is created 0700 if missing)
  OperatorHandler handler;
  std::chrono::milliseconds read_timeout{5000};  ///< a request must arrive within this
};

/// A listening operator channel with its own thread; requests are handled one at a time (operator
/// acts are rare and some, like a backup, must not run twice at once).
class OperatorChannel {
 public:
  /// Binds and starts listening. A stale socket file (nothing answers on it) is replaced; a live
  /// one (another process answers) is refused. Throws std::runtime_error with a sentence for the
  /// operator when the socket cannot be set up.
  explicit OperatorChannel(OperatorChannelOptions options);
  /// Stops accepting, finishes the request in progress, removes the socket file.
  ~OperatorChannel();
  OperatorChannel(const OperatorChannel&) = delete;
  OperatorChannel& operator=(const OperatorChannel&) = delete;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// What became of one call on the channel.
struct OperatorCall {
  enum class Outcome {
    answered,    ///< `answer` holds the gateway's answer line
    no_gateway,  ///< no socket file, or nothing listens on it: the gateway is not running
    failed,      ///< connected but the exchange failed; `error` says how
  };
  Outcome outcome = Outcome::failed;
  std::string answer;
  std::string error;
};

/// The name of the account `uid` ("uid-<n>" when it has none).
[[nodiscard]] std::string account_name(unsigned uid);

/// Sends `request` (one JSON line) to the channel at `socket` and waits up to `timeout` for the
/// answer. Never throws for I/O errors.
[[nodiscard]] OperatorCall call_operator_channel(const std::filesystem::path& socket,
                                                 std::string_view request,
                                                 std::chrono::milliseconds timeout);

}  // namespace sluis::ops
