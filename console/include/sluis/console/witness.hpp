// The console as a witness of sluisd's audit log: verifies each signed checkpoint and a
// consistency proof from the newest one it has seen, keeps every checkpoint it accepted, and
// raises a typed alert naming the two tree sizes when the log cannot prove it only grew.
//
// Follows C2SP tlog-witness in spirit (one trusted log key, pinned in configuration; RFC 9162
// §2.1.4 consistency proofs; the newest accepted checkpoint is the witness's state). The checks
// use crypto's own note and Merkle code (crypto/note.hpp, crypto/merkle.hpp), never the
// gateway's audit library: the console only ever sees what GET /v1/audit/checkpoint and
// GET /v1/audit/proofs/consistency answer.
#pragma once

#include "sluis/crypto/merkle.hpp"
#include "sluis/crypto/note.hpp"

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sluis::console {

class ApiClient;

/// Why the witness could not do its work. None of these says anything about the log's honesty
/// (that is a WitnessAlert): the caller retries later and shows "not checked since …".
enum class WitnessErrc {
  log_unreachable = 1,   ///< the /v1 call failed in transport, or sluisd answered 5xx
  archive_failed = 2,    ///< reading or writing the archive failed (I/O, disk full)
  archive_corrupt = 3,   ///< the archive does not parse, or its newest note does not verify
  invalid_argument = 4,  ///< a bad configuration (verifier key text, archive path)
};
[[nodiscard]] const boost::system::error_category& witness_category() noexcept;
[[nodiscard]] boost::system::error_code make_error_code(WitnessErrc e) noexcept;
template <class T> using WitnessResult = boost::system::result<T>;

/// What can be wrong with the log. Each names the two tree sizes in WitnessAlert.
enum class WitnessAlertKind {
  bad_signature,  ///< the checkpoint is not validly signed by the pinned key (or not a note)
  wrong_log,      ///< validly signed, but for another origin than the pinned one
  shrunk,         ///< the new tree is smaller than the newest one seen: entries vanished
  forked,         ///< same size as the newest seen, different root: two versions of history
  bad_proof,      ///< the consistency proof is missing, malformed or does not verify
};
/// The stable name of a kind ("bad-signature", "wrong-log", "shrunk", "forked", "bad-proof").
[[nodiscard]] std::string_view alert_kind_name(WitnessAlertKind kind) noexcept;

/// The log could not prove it only grew. `old_size` is the newest checkpoint the witness
/// accepted (0 when it has none); `new_size` the one refused (0 when its size could not be
/// read: a bad signature). `note` is the refused checkpoint byte for byte (at most
/// kMaxAlertEvidence bytes of it): evidence to keep.
struct WitnessAlert {
  WitnessAlertKind kind{};
  std::uint64_t old_size = 0;
  std::uint64_t new_size = 0;
  std::string note;
  /// One English sentence for logs and operators, e.g. "the log cannot prove that its tree of
  /// 12 entries grew into the one of 15 entries: the consistency proof does not verify".
  [[nodiscard]] std::string describe() const;
  friend bool operator==(const WitnessAlert&, const WitnessAlert&) = default;
};
/// A refused answer longer than a valid note can be is kept only up to this length.
inline constexpr std::size_t kMaxAlertEvidence = crypto::kMaxNoteSize;

/// One checkpoint the witness accepted, as it keeps it: the signed note byte for byte (so it
/// can be shown to anyone as evidence), its size and root, and when the witness first saw it.
struct ArchivedCheckpoint {
  std::chrono::system_clock::time_point seen_at;
  std::uint64_t size = 0;
  crypto::Hash root{};
  std::string note;
};

/// One alert as kept: an alert stays on record (and on the DPO's page) after the log answers
/// well again, because a log that showed one history to this console and another elsewhere may
/// well go back to the honest one.
struct ArchivedAlert {
  std::chrono::system_clock::time_point seen_at;
  WitnessAlert alert;
};

/// Where the witness keeps the checkpoints it accepted and the alerts it raised. The seam
/// exists because there are two implementations: FileCheckpointArchive below, and the
/// console's SQLCipher store.
/// Contract for implementations: append() and append_alert() are durable when they return
/// success (a crash after that never loses the record); records come back in the order
/// appended; nothing is ever changed or removed. Thread rules: the witness calls one archive
/// from one thread at a time.
class CheckpointArchive {
 public:
  virtual ~CheckpointArchive() = default;
  /// The checkpoint appended last, or nullopt when none. Errors: archive_failed, archive_corrupt.
  [[nodiscard]] virtual WitnessResult<std::optional<ArchivedCheckpoint>> newest() = 0;
  /// Appends one checkpoint durably. Errors: archive_failed (nothing was appended, or the caller
  /// may retry: a torn record is discarded when the archive is opened again).
  [[nodiscard]] virtual WitnessResult<void> append(const ArchivedCheckpoint& record) = 0;
  /// The last `limit` checkpoints, oldest first (for the DPO's log-health page).
  [[nodiscard]] virtual WitnessResult<std::vector<ArchivedCheckpoint>>
  recent(std::size_t limit) = 0;
  /// The alert appended last, or nullopt when none.
  [[nodiscard]] virtual WitnessResult<std::optional<ArchivedAlert>> newest_alert() = 0;
  /// Appends one alert durably (same rules as append()).
  [[nodiscard]] virtual WitnessResult<void> append_alert(const ArchivedAlert& record) = 0;
  /// The last `limit` alerts, oldest first.
  [[nodiscard]] virtual WitnessResult<std::vector<ArchivedAlert>>
  recent_alerts(std::size_t limit) = 0;
};

/// An append-only text file of checkpoints and alerts, one record per line, after a first line
/// "sluis-witness-archive v1\n":
///   "sluis-witness-v1 <seen_at ms since 1970> <size> <base64 root> <base64 note>\n"
///   "sluis-witness-alert-v1 <seen_at ms> <kind name> <old size> <new size> <base64 evidence>\n"
/// (an empty evidence is written "-"). A new file is written to a temporary name, fsync'd and
/// renamed into place (then the directory is fsync'd), so the archive either exists with its
/// header or not at all. Each append is one write(2) of a whole line to the file opened
/// O_APPEND, followed by fdatasync(2). A crash inside an append can leave only the last line
/// torn (no final '\n'): open() drops it by writing the intact records to a temporary file and
/// renaming it over the archive, atomically. Any other damage is archive_corrupt.
/// Mode 0600. One process at a time (the console's data directory is its own).
class FileCheckpointArchive final : public CheckpointArchive {
 public:
  /// Opens `path`, creating it (and nothing else: the directory must exist) when missing.
  /// Errors: archive_failed (I/O), archive_corrupt (a record other than the last does not
  /// parse, checkpoint sizes go down, or the header is wrong).
  [[nodiscard]] static WitnessResult<FileCheckpointArchive> open(std::filesystem::path path);

  [[nodiscard]] WitnessResult<std::optional<ArchivedCheckpoint>> newest() override;
  [[nodiscard]] WitnessResult<void> append(const ArchivedCheckpoint& record) override;
  [[nodiscard]] WitnessResult<std::vector<ArchivedCheckpoint>> recent(std::size_t limit) override;
  [[nodiscard]] WitnessResult<std::optional<ArchivedAlert>> newest_alert() override;
  [[nodiscard]] WitnessResult<void> append_alert(const ArchivedAlert& record) override;
  [[nodiscard]] WitnessResult<std::vector<ArchivedAlert>> recent_alerts(std::size_t limit) override;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// Number of checkpoint records in the file.
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  /// Number of alert records in the file.
  [[nodiscard]] std::uint64_t alert_count() const noexcept { return alert_count_; }

 private:
  explicit FileCheckpointArchive(std::filesystem::path path) : path_(std::move(path)) {}
  [[nodiscard]] WitnessResult<void> append_line(const std::string& line);
  std::filesystem::path path_;
  std::optional<ArchivedCheckpoint> newest_;
  std::optional<ArchivedAlert> newest_alert_;
  std::uint64_t count_ = 0;
  std::uint64_t alert_count_ = 0;
};

/// The outcome of one observation.
struct WitnessReport {
  enum class Status {
    first,      ///< the first checkpoint ever: accepted on its signature alone (trust on first use)
    unchanged,  ///< the same size and root as the newest one seen; nothing appended
    grew,       ///< a larger tree, proven consistent with the newest one seen; appended
    alert,      ///< refused: see `alert`; nothing appended
  };
  Status status = Status::alert;
  std::optional<ArchivedCheckpoint> accepted;  ///< the newest accepted checkpoint afterwards
  std::optional<WitnessAlert> alert;
};

/// Returns the consistency proof from `from` to `to` (both sizes of checkpoints), or an error
/// when it could not be fetched at all (transport, 5xx). A proof the log refused to give, or one
/// that does not parse, is an empty optional: the witness treats it as bad_proof.
using ConsistencyProofSource =
    std::function<WitnessResult<std::optional<std::vector<crypto::Hash>>>(std::uint64_t from,
                                                                          std::uint64_t to)>;

/// The witness of one log. Thread rules: one observe() at a time (it reads then appends).
class Witness final {
 public:
  /// `log_key` is pinned in configuration (the text `sluisctl audit checkpoint` prints as
  /// "Verifier key"); the log's origin is its key name (sluisd signs with key name = origin).
  /// `archive` must outlive the witness. `clock` stamps seen_at (defaults to the system clock).
  Witness(crypto::NoteVerifierKey log_key, CheckpointArchive& archive,
          std::function<std::chrono::system_clock::time_point()> clock = {});

  /// Parses the verifier key text strictly (crypto::parse_verifier_key). invalid_argument.
  [[nodiscard]] static WitnessResult<crypto::NoteVerifierKey>
  parse_log_key(std::string_view verifier_key_text);

  /// Observes one checkpoint note as GET /v1/audit/checkpoint served it: verifies its
  /// signature and origin; then against the newest accepted checkpoint N (if any): same size
  /// and root → unchanged; smaller → shrunk; same size, other root → forked; larger → asks
  /// `proofs` for PROOF(N.size, new.size) and verifies it (RFC 9162 §2.1.4.2), appending the new
  /// checkpoint only when it verifies. An empty archive accepts a validly signed checkpoint.
  /// An alert never changes the checkpoints kept, so later observations keep comparing against
  /// the last checkpoint that was proven; the alert itself is appended to the archive's alerts
  /// (once: the same alert as the newest kept one is not appended again).
  /// Errors: archive_failed / archive_corrupt, and whatever `proofs` returns.
  [[nodiscard]] WitnessResult<WitnessReport> observe(std::string_view note,
                                                     const ConsistencyProofSource& proofs);

 private:
  crypto::NoteVerifierKey key_;
  CheckpointArchive& archive_;
  std::function<std::chrono::system_clock::time_point()> clock_;
};

/// Parses the body of GET /v1/audit/proofs/consistency ({"from","to","path":[base64...]}):
/// strictly one object whose from and to equal the sizes asked for and whose path holds at most
/// crypto::kMaxProofHashes canonical base64 hashes of 32 bytes. nullopt otherwise.
[[nodiscard]] std::optional<std::vector<crypto::Hash>>
parse_consistency_proof(std::string_view json, std::uint64_t from, std::uint64_t to);

/// One round against sluisd through `client`: GET /v1/audit/checkpoint, then (when needed)
/// GET /v1/audit/proofs/consistency?from=…&to=…, then Witness::observe. `worker` is sent as
/// Sluis-Worker (ApiClient always names one; the audit routes need none and ignore it).
/// Errors: log_unreachable (transport failure or a 5xx answer to either call), the archive's.
/// A 4xx answer or unparsable body for the proof is a bad_proof alert; for the checkpoint, a
/// non-200 answer other than 5xx is log_unreachable too (nothing was signed, nothing to judge).
[[nodiscard]] WitnessResult<WitnessReport>
witness_once(const ApiClient& client, const std::string& worker, Witness& witness);

}  // namespace sluis::console

template <>
struct boost::system::is_error_code_enum<sluis::console::WitnessErrc> : std::true_type {};
