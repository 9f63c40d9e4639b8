// The console's own SQLCipher file: accounts, passkeys, one-time invitations and sessions.
//
// Only hashes of bearer secrets are stored (invitation tokens, session ids); the console's root
// key file keys the database (crypto::derive_subkey(root, KeyPurpose::database): the console has
// its own root key, never sluisd's). One connection behind a mutex: every member is thread-safe.
#pragma once

#include "sluis/console/webauthn.hpp"
#include "sluis/crypto/keys.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::console {

/// The store could not be opened or used; the message is a sentence an operator can act on.
class ConsoleStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Console roles: a partner's console admin, a worker, the partner's DPO.
enum class ConsoleRole { admin, worker, dpo };
[[nodiscard]] std::string_view to_string(ConsoleRole role) noexcept;
[[nodiscard]] std::optional<ConsoleRole> parse_console_role(std::string_view text) noexcept;

inline constexpr std::chrono::seconds kInviteLifetime{24 * 3600};
inline constexpr std::chrono::seconds kSessionIdle{15 * 60};
inline constexpr std::chrono::seconds kSessionAbsolute{10 * 3600};
/// A session's idle time is written at most this often (not on every page: each write is a
/// durable commit). A session therefore ends up to this much before 15 idle minutes, never after.
inline constexpr std::chrono::seconds kSessionTouchStep{30};
/// At most this many signed-out sessions (a visitor's form token before sign-in) are kept: a
/// flood of anonymous page loads evicts the oldest of them, never a signed-in session.
inline constexpr std::size_t kMaxSignedOutSessions = 2000;

inline constexpr std::chrono::seconds kChallengeLifetime{5 * 60};

/// Seconds since the Unix epoch (the store's clock; injected so tests can move it).
using UnixSeconds = std::int64_t;

/// A recorded security event of an account (sign-in refusals, sign-count regressions).
struct SecurityEvent {
  UnixSeconds time = 0;
  std::string kind;  ///< "sign_count_regression", "assertion_refused", "revoked_passkey", ...
  std::string account_id;
  std::string worker;
};

struct ConsoleAccount {
  std::string id;  ///< 32 hex digits, random; also the WebAuthn user handle
  std::string partner;
  std::string worker;
  ConsoleRole role = ConsoleRole::worker;
  bool revoked = false;
  std::size_t active_credentials = 0;
};

/// A new invitation: the token (shown once, in the link) and when it stops working.
struct IssuedInvite {
  std::string token;  ///< 43 base64url characters (32 random bytes); only its hash is stored
  UnixSeconds expires = 0;
};

enum class InviteState { valid, unknown, expired, used };

struct InviteView {
  InviteState state = InviteState::unknown;
  std::string account_id, partner, worker;
  ConsoleRole role = ConsoleRole::worker;
};

/// What a request's session cookie stands for. A session without an account is the
/// pre-sign-in session of the login and enrolment pages (it holds their CSRF token and the
/// pending WebAuthn challenge).
struct ConsoleSession {
  std::string handle_hash;  ///< hex of the id's hash (the row key; never the id itself)
  std::string csrf;         ///< the per-session form token
  std::optional<ConsoleAccount> account;
  std::optional<std::string> invite_hash;  ///< enrolment: the invite this session came from
};

struct StoredPasskey {
  std::vector<std::uint8_t> id;
  std::string account_id;
  std::vector<std::uint8_t> cose_key;
  std::uint32_t sign_count = 0;
  bool revoked = false;
};

enum class ChallengePurpose { login, enrol };

class ConsoleStore final {
 public:
  /// Opens (creating when absent, mode 0600) the SQLCipher file keyed from `root`. Throws
  /// ConsoleStoreError: unreadable, another key, not a console database.
  static std::unique_ptr<ConsoleStore> open(const std::filesystem::path& file,
                                            const crypto::RootKey& root);
  ~ConsoleStore();
  ConsoleStore(const ConsoleStore&) = delete;
  ConsoleStore& operator=(const ConsoleStore&) = delete;

  // --- invitations ---
  /// A one-time enrolment invitation for `worker` of `partner` with `role`, valid for
  /// `valid_for` (at most kInviteLifetime). Earlier unused invitations of the same account stop
  /// working. The account is created (without passkeys) when it does not exist.
  [[nodiscard]] IssuedInvite create_invite(std::string_view partner, std::string_view worker,
                                           ConsoleRole role, UnixSeconds now,
                                           std::chrono::seconds valid_for = kInviteLifetime);
  [[nodiscard]] InviteView find_invite(std::string_view token, UnixSeconds now);
  /// The same by the token's hash (what a session remembers).
  [[nodiscard]] InviteView find_invite_by_hash(std::string_view token_hash, UnixSeconds now);
  [[nodiscard]] static std::string hash_token(std::string_view token);
  /// Enrolment (single use): when the invite (by hash) is still valid, marks it used, gives the
  /// account the invite's role, revokes every earlier passkey of the account (a lost passkey is
  /// replaced, never added to), stores `credential` and returns the account. nullopt: the
  /// invite is unknown, expired or used (nothing changed), or the passkey id is already taken.
  [[nodiscard]] std::optional<ConsoleAccount> enrol(std::string_view invite_hash,
                                                    const RegisteredCredential& credential,
                                                    UnixSeconds now);

  // --- passkeys ---
  [[nodiscard]] std::optional<StoredPasskey> find_passkey(std::span<const std::uint8_t> id);
  void update_sign_count(std::span<const std::uint8_t> id, std::uint32_t count, UnixSeconds now);
  /// Records a security event (sign-count regression, refused passkey) for the admins' view.
  void record_event(std::string_view kind, std::string_view account_id, UnixSeconds now);
  [[nodiscard]] std::size_t count_events(std::string_view kind);
  /// The newest `limit` events of `partner`'s accounts, newest first (events no account can be
  /// named for, such as an unknown passkey, belong to no partner and are not listed).
  [[nodiscard]] std::vector<SecurityEvent> events_of(std::string_view partner, std::size_t limit);

  // --- accounts ---
  [[nodiscard]] std::optional<ConsoleAccount> account(std::string_view id);
  [[nodiscard]] std::vector<ConsoleAccount> accounts_of(std::string_view partner);
  /// Revokes the account `id` of `partner` (its passkeys and sessions too). False when no such
  /// account belongs to `partner` (an account of another partner is never touched).
  [[nodiscard]] bool revoke_account(std::string_view partner, std::string_view id);

  // --- sessions ---
  /// A new session (a fresh random id, returned for the cookie) for `account` (or none, a
  /// pre-sign-in session), remembering `invite_hash` for enrolment. Expired sessions are deleted
  /// (at most once a minute), and a signed-out session beyond kMaxSignedOutSessions evicts the
  /// least recently used signed-out one.
  [[nodiscard]] std::string create_session(std::optional<std::string> account_id,
                                           std::optional<std::string> invite_hash,
                                           UnixSeconds now);
  /// The session of cookie value `id` when it exists, is within the idle and absolute limits
  /// and (when signed in) its account is not revoked; refreshes its idle time when the last
  /// refresh is kSessionTouchStep or more ago. Expired sessions are deleted.
  [[nodiscard]] std::optional<ConsoleSession> touch_session(std::string_view id, UnixSeconds now);
  void delete_session(std::string_view handle_hash);
  /// "Log out everywhere": every session of the account.
  void delete_sessions_of(std::string_view account_id);
  [[nodiscard]] std::size_t count_sessions_of(std::string_view account_id);
  /// Signed-out sessions stored now (bounded by kMaxSignedOutSessions).
  [[nodiscard]] std::size_t count_signed_out_sessions();
  void set_challenge(std::string_view handle_hash, ChallengePurpose purpose,
                     std::span<const std::uint8_t> challenge, UnixSeconds now);
  /// The pending challenge for `purpose`, removed (single use); nullopt when none or expired.
  [[nodiscard]] std::optional<std::vector<std::uint8_t>>
  take_challenge(std::string_view handle_hash, ChallengePurpose purpose, UnixSeconds now);

 private:
  struct Impl;
  explicit ConsoleStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Seconds since the epoch now.
[[nodiscard]] UnixSeconds unix_now() noexcept;

}  // namespace sluis::console
