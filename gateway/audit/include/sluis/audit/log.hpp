// The audit log: durable group-committed appends, a persisted RFC 9162 tree, signed checkpoints,
// proofs for witnesses, DPO queries and full verification.
#pragma once

#include "sluis/crypto/keys.hpp"
#include "sluis/crypto/merkle.hpp"
#include "sluis/crypto/note.hpp"
#include "sluis/audit/event.hpp"
#include "sluis/store/records.hpp"
#include "sluis/store/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::audit {

/// Where the audit log lives and how it behaves. Only `path` is required.
struct AuditLogOptions {
  /// The audit file (SQLCipher, key derive_subkey(root, KeyPurpose::audit_store)). Separate from
  /// the data store: erasure never touches it and its writes never contend with the data store.
  std::filesystem::path path;
  /// The log's identity in checkpoints (also the signing key's name). Stored at creation; empty
  /// means "whatever the file says" (tools). A different origin than the file's is refused.
  std::string origin = "sluis.example/audit";
  /// A signed checkpoint is issued at least this often while events arrive.
  std::chrono::milliseconds checkpoint_interval{1000};
  std::chrono::milliseconds busy_timeout{5000};
  /// SQLite's page cache of the writer's connection, in KiB: the index pages every append
  /// touches stay decrypted in memory. 0 = SQLite's default (2000 KiB).
  std::size_t page_cache_kib = 16 * 1024;
  /// Most events one group-commit transaction takes (the rest wait for the next one).
  std::size_t max_batch_events = 8192;
  /// Group-commit gathering: when fewer callers are waiting than the previous batch served, the
  /// writer waits up to this long for them before committing, so callers woken by one commit
  /// share the next fsync instead of splitting into a small and a large batch. Zero disables it.
  /// A lone caller never waits (the previous batch served one).
  std::chrono::microseconds group_commit_window{1000};
  /// Tools (sluisctl audit ...): no writer thread, nothing is written, no start-up check (so a
  /// tampered log can still be opened and verified). append() and checkpoint() fail.
  bool read_only = false;
  /// Clock for checkpoint issue times (defaults to the system clock).
  std::function<Instant()> clock;
  /// Testing seam: called by the writer at "append.insert" (per batch, before the inserts) and
  /// "append.commit" (before COMMIT); returning true fails that batch with
  /// Errc::injected_failure. Leave empty.
  std::function<bool(std::string_view step)> inject_failure;
};

/// Leaf indices [first, first + count) given to the events of one append, in their order.
struct LeafRange {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
};

/// One stored event: its leaf index, its decoded fields and its canonical bytes (what the leaf
/// hash is computed over). Partner-scoped query results carry no canonical bytes and, unless
/// the query named the client, no client pseudonym (see AuditQuery::scope_partner).
struct StoredEvent {
  std::uint64_t leaf = 0;
  AuditEvent event;
  std::string canonical;
};

/// A signed checkpoint as issued and stored.
struct StoredCheckpoint {
  std::uint64_t size = 0;
  Instant issued{};
  std::string note;  ///< the C2SP signed note, byte for byte
};

/// An inclusion proof for a witness: verify with
/// crypto::verify_inclusion(leaf_hash, index, size, path, root-of-the-checkpoint-at-size).
struct InclusionProof {
  std::uint64_t index = 0;
  std::uint64_t size = 0;
  crypto::Hash leaf_hash{};
  std::vector<crypto::Hash> path;
};

/// A DPO query. Every set filter must match (AND); unset filters match everything.
struct AuditQuery {
  std::optional<std::string> client;   ///< audit pseudonym "a1..."
  std::optional<std::string> partner;  ///< acting partner
  std::optional<std::string> worker;   ///< acting worker (any partner unless `partner` is set)
  std::optional<AuditAction> action;
  std::optional<AuditDecision> decision;
  std::optional<Instant> from;   ///< inclusive
  std::optional<Instant> until;  ///< exclusive
  /// A partner's DPO: only events where this partner acted or owned the data. Results then carry
  /// no canonical bytes, and no client pseudonym unless `client` is set: the audit pseudonym is
  /// the same for every partner, so handing it out would let two partners match their clients
  /// (BRIEF §4 promise 3).
  std::optional<std::string> scope_partner;
  std::uint64_t cursor = 0;  ///< first leaf index to consider (from AuditPage::next)
  std::size_t limit = 100;   ///< at most kMaxAuditPage
};
inline constexpr std::size_t kMaxAuditPage = 1000;

/// One page of query results, oldest first; `next` is the cursor of the following page.
struct AuditPage {
  std::vector<StoredEvent> events;
  std::optional<std::uint64_t> next;
};

/// Where verification found the log first differs from what was recorded and signed.
struct AuditFinding {
  std::uint64_t leaf = 0;       ///< the first event that differs (or is missing)
  std::optional<Instant> time;  ///< its recorded time (or, when deleted, its successor's)
  std::string what;             ///< a sentence for the DPO
};

/// One page of the audit file as the page walk saw it (check_audit_file).
struct AuditFilePage {
  std::uint32_t number = 0;   ///< 1-based; the page's bytes start at (number - 1) × page_size
  std::uint64_t offset = 0;   ///< its first byte in the file
  bool damaged = false;       ///< fails its integrity check (SQLCipher's HMAC): damaged or altered
  std::string holds;          ///< what it holds (a damaged page: what the intact pages say it held)
  std::optional<std::uint64_t> first_event;  ///< events-table pages: the events it holds
  std::optional<std::uint64_t> last_event;   ///< (unset: up to the newest)
};

/// The page walk of an audit file: every page's HMAC checked, the damaged ones located.
struct AuditFileCheck {
  static constexpr std::size_t kPageSize = 4096;
  std::uint64_t pages = 0;              ///< pages in the file (the WAL, if any, is not walked)
  std::vector<AuditFilePage> damaged;       ///< in page order
  std::vector<AuditFilePage> map;           ///< every page, when asked for (with_map)
};

/// Walks every page of the audit file at `path` with the root key's audit_store key, checks its
/// HMAC as SQLCipher does when it reads it, and names what each damaged page held (events by
/// leaf index, checkpoints, tree nodes, query indexes, free space) from the intact pages above
/// it. Works when SQLite cannot open the file (then what page 1 listed is unknown). Reads the
/// whole file: for `sluisctl audit verify`, never at start-up. Errors: not_found,
/// storage_failure (unreadable, or not whole pages).
[[nodiscard]] Result<AuditFileCheck> check_audit_file(const std::filesystem::path& path,
                                                      const crypto::RootKey& root,
                                                      bool with_map = false);

/// The outcome of AuditLog::verify.
struct AuditVerifyReport {
  std::uint64_t events = 0;                      ///< event rows read
  std::uint64_t checkpoints = 0;                 ///< stored checkpoints checked
  crypto::Hash root{};                           ///< the root recomputed from the event bytes alone
  std::optional<StoredCheckpoint> latest;        ///< the newest stored checkpoint, if any
  std::optional<AuditFinding> first_difference;  ///< the earliest event that differs
  std::vector<std::string> problems;             ///< every problem found, in the order found
  std::uint64_t pages = 0;                       ///< pages of the file checked (HMAC)
  std::vector<AuditFilePage> damaged_pages;  ///< pages that fail their integrity check, in order

  [[nodiscard]] bool ok() const noexcept { return problems.empty(); }
};

/// The audit log (BRIEF §4 promises 7 and 8; docs/crypto/audit-crypto.md §3).
///
/// Appends are durable before append() returns: a single writer thread takes everything pending
/// from all callers, writes it in one SQLCipher transaction with synchronous=FULL (one fsync per
/// batch), then wakes every caller of that batch; if the transaction fails every caller of that
/// batch gets the error and nothing of the batch is kept. The writer issues a signed checkpoint
/// (C2SP tlog-checkpoint, Ed25519 key derive_subkey(root, KeyPurpose::audit_signing), key name =
/// origin) inside the batch transaction at least every checkpoint_interval while events arrive,
/// on demand, and at a clean shutdown.
///
/// Threads: every member function may be called from any number of threads at once. Reads
/// (proofs, queries, verify) use their own connection and never wait for a commit in progress.
///
/// Two engines implement it (the seam of docs/store.md "The audit log on PostgreSQL"): open()
/// below opens the SQLCipher file; sluis::pgaudit::open_pg_audit_log opens the log in the
/// PostgreSQL database several nodes share. What each member promises holds on both, except where
/// a member says "PostgreSQL:".
class AuditLog {
 public:
  /// Opens (creating when absent) the log, checks the key with a read, creates the schema,
  /// restores the tree frontier from the stored nodes (popcount(size) ≤ 64 lookups) and checks
  /// it against the latest stored checkpoint (signature, size, root), then starts the writer.
  /// What start-up checks (kept cheap: < 1 s at millions of events): the key, the schema and
  /// origin, the count of events (one pass over the smallest query index), the newest event's
  /// path, the tree nodes of the frontier and of the latest checkpoint's root, and that
  /// checkpoint's signature, size and root — plus SQLCipher's HMAC of every page those reads
  /// touch. Pages nothing at start-up reads are checked by verify() / check_audit_file.
  /// Errors: database_key_mismatch (wrong root key / not an audit file), file_damaged (a page
  /// read fails its integrity check, page 1 included), audit_log_inconsistent (the stored tree
  /// does not match the latest signed checkpoint, event rows are missing, or the file's origin
  /// differs from options.origin), schema_too_new, storage_failure. A read-only open tolerates
  /// damage beyond the schema, so that verify() can locate it.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open(AuditLogOptions options,
                                                              const crypto::RootKey& root);
  /// Commits everything still pending, issues a final checkpoint if events arrived since the
  /// last one, and stops the writer. Callers must not call members concurrently with it.
  virtual ~AuditLog() = default;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  /// Appends `events` in order and blocks until they are committed and fsynced. Returns their
  /// leaf indices (consecutive). An empty span returns {size(), 0} at once.
  /// Errors: invalid_argument (an event does not encode: bad UTF-8, too long), storage_failure or
  /// busy (the batch's transaction failed: nothing of it was kept), injected_failure (tests),
  /// not_permitted (read-only log).
  [[nodiscard]] virtual Result<LeafRange> append(std::span<const AuditEvent> events) = 0;
  [[nodiscard]] Result<LeafRange> append(const AuditEvent& event);

  /// Issues (through the writer) a signed checkpoint of everything committed so far and returns
  /// its note; when the newest stored checkpoint already covers the current size, returns it.
  /// Errors: as append. PostgreSQL: the integrator (on whichever node holds it) signs it; this
  /// waits up to PgAuditLogOptions::integration_wait for it, then answers Errc::busy.
  [[nodiscard]] virtual Result<std::string> checkpoint() = 0;
  /// The newest stored checkpoint. Errors: not_found (none issued yet), storage_failure.
  [[nodiscard]] virtual Result<StoredCheckpoint> latest_checkpoint() const = 0;
  /// Stored checkpoints with size in [min_size, ...], oldest first, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<StoredCheckpoint>>
  checkpoints(std::uint64_t min_size = 0, std::size_t limit = 1000) const = 0;
  /// Number of events durably committed. PostgreSQL: the size of the integrated tree this node
  /// last saw (an appended event is durable and queryable before it is integrated).
  [[nodiscard]] virtual std::uint64_t size() const noexcept = 0;
  /// The log's origin and the verifier key witnesses configure ("<origin>+<id>+<key>").
  [[nodiscard]] virtual const std::string& origin() const noexcept = 0;
  [[nodiscard]] virtual const crypto::NoteVerifierKey& verifier_key() const noexcept = 0;

  /// The inclusion proof of event `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1), from
  /// the stored nodes. Errors: invalid_argument (index >= size or size > this->size()),
  /// storage_failure (a node row is missing: the log is damaged). PostgreSQL: a size beyond the
  /// integrated tree (a leaf sequenced but not yet integrated) waits up to
  /// PgAuditLogOptions::integration_wait for the integrator, then answers Errc::busy (retry).
  [[nodiscard]] virtual Result<InclusionProof> inclusion_proof(std::uint64_t index,
                                                               std::uint64_t size) const = 0;
  /// The consistency proof between sizes (RFC 9162 §2.1.4.1). Errors: invalid_argument
  /// (old_size > new_size or new_size > this->size()), storage_failure.
  [[nodiscard]] virtual Result<std::vector<crypto::Hash>>
  consistency_proof(std::uint64_t old_size, std::uint64_t new_size) const = 0;
  /// MTH of the first `size` events from the stored nodes. Errors: as consistency_proof.
  [[nodiscard]] virtual Result<crypto::Hash> root_at(std::uint64_t size) const = 0;

  /// One event by leaf index. Errors: not_found, storage_failure, invalid_argument (its stored
  /// bytes are not a canonical event).
  [[nodiscard]] virtual Result<StoredEvent> event(std::uint64_t leaf) const = 0;
  /// Events matching `query`, oldest first. Errors: invalid_argument (limit 0 or over
  /// kMaxAuditPage), storage_failure.
  [[nodiscard]] virtual Result<AuditPage> query(const AuditQuery& query) const = 0;
  /// Every event matching `query` (pages internally, ignoring query.limit): for reports.
  [[nodiscard]] Result<std::vector<StoredEvent>> query_all(AuditQuery query) const;

  /// Full verification, independent of the stored tree: first every page of the file is
  /// checked (check_audit_file: damaged or altered pages named, with the events they held);
  /// then it recomputes every leaf hash from the
  /// stored canonical bytes and the whole tree from them; compares with the stored level-0 and
  /// interior nodes, every stored checkpoint (signature by this log's key, root at its size) and
  /// the consistency of consecutive checkpoints; checks leaf indices are dense and that the
  /// indexed columns agree with the bytes. Names the first event that differs. Runs on the read
  /// connection; appends may continue (it checks the committed prefix it sees at the start).
  /// A damaged page met by these reads ends them with a problem, not an error.
  /// Errors: storage_failure (the file cannot be read at all). PostgreSQL: the same checks
  /// without the page walk (no file); sequenced events not yet integrated are checked for their
  /// bytes, columns and dense indices, not against the tree.
  [[nodiscard]] virtual Result<AuditVerifyReport> verify() const = 0;

 protected:
  AuditLog() = default;
};

}  // namespace sluis::audit
