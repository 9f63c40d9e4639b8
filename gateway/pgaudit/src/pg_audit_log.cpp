// The PostgreSQL audit log: the sequencer (group-committed appends with global leaf indices), the
// integrator (the advisory-lock holder folding sequenced events into the RFC 9162 tree and signing
// C2SP checkpoints), proofs, queries and verify; and AuditLogImport, which carries a SQLCipher
// home's log in with its leaf numbers, tree and checkpoints (sluisctl store migrate).
//
// The split follows the sequence/integrate design of Tessera's database drivers: making an event
// durable needs only a short transaction on one sequence row, so every node answers as soon as its
// batch is committed; building the tree is one node's background job, and each of its steps is
// guarded by the integrated size in the tree row, so a crash or a second integrator changes
// nothing twice. The tables are those of pg schema 2 (gateway/pgstore/src/pg_storage.cpp).
#include "sluis/pgaudit/pg_audit_log.hpp"

#include "sluis/audit/group_commit.hpp"
#include "sluis/crypto/merkle.hpp"
#include "sluis/crypto/note.hpp"
#include "sluis/pgstore/pg.hpp"
#include "sluis/policy/types.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace sluis::pgaudit {

namespace pg = pgstore::pg;
using audit::AuditEvent;
using audit::AuditFinding;
using audit::AuditPage;
using audit::AuditQuery;
using audit::AuditVerifyReport;
using audit::InclusionProof;
using audit::LeafRange;
using audit::StoredCheckpoint;
using audit::StoredEvent;
using boost::system::error_code;
using store::Errc;

namespace {

constexpr std::string_view kAuditSchemaVersion = "1";

const std::string kSequence =
    "UPDATE audit_sequence SET next = next + $1 WHERE id = 1 RETURNING next - $1";
const std::string kInsertEvent =
    "INSERT INTO audit_event(leaf, time_ms, partner, worker, action, client, decision, "
    "owner_partner, canonical) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const std::string kSelectNode = "SELECT hash FROM audit_merkle_node WHERE level = $1 AND idx = $2";
const std::string kInsertNode =
    "INSERT INTO audit_merkle_node(level, idx, hash) VALUES($1, $2, $3)";
const std::string kTree = "SELECT size, root FROM audit_tree WHERE id = 1";
const std::string kTreeForUpdate = "SELECT size, root FROM audit_tree WHERE id = 1 FOR UPDATE";
const std::string kAdvanceTree =
    "UPDATE audit_tree SET size = $1, root = $2, integrated_at = $3 WHERE id = 1 AND size = $4";
const std::string kSequenced = "SELECT next FROM audit_sequence WHERE id = 1";
const std::string kCountEvents = "SELECT count(*) FROM audit_event";
const std::string kToIntegrate =
    "SELECT leaf, canonical FROM audit_event WHERE leaf >= $1 ORDER BY leaf LIMIT $2";
const std::string kLatestCheckpoint =
    "SELECT size, issued_ms, note FROM audit_checkpoint ORDER BY size DESC LIMIT 1";
const std::string kCheckpointsFrom =
    "SELECT size, issued_ms, note FROM audit_checkpoint WHERE size >= $1 ORDER BY size LIMIT $2";
const std::string kInsertCheckpoint =
    "INSERT INTO audit_checkpoint(size, issued_ms, note) VALUES($1, $2, $3)";
const std::string kSelectMeta = "SELECT value FROM audit_meta WHERE name = $1";
const std::string kInsertMeta =
    "INSERT INTO audit_meta(name, value) VALUES($1, $2) ON CONFLICT (name) DO NOTHING";
const std::string kSelectEvent = "SELECT canonical FROM audit_event WHERE leaf = $1";
const std::string kVerifyEvents =
    "SELECT e.leaf, e.time_ms, e.partner, e.worker, e.action, e.client, e.decision, "
    "e.owner_partner, e.canonical, n.hash FROM audit_event e "
    "LEFT JOIN audit_merkle_node n ON n.level = 0 AND n.idx = e.leaf "
    "WHERE e.leaf >= $1 ORDER BY e.leaf LIMIT $2";
const std::string kOrphanLeaves =
    "SELECT count(*) FROM audit_merkle_node WHERE level = 0 AND idx >= $1";
const std::string kTryLock = "SELECT pg_try_advisory_lock($1)";

// Query variants, one per driving index. Parameters: $1 cursor, $2 client, $3 partner,
// $4 worker, $5 action, $6 decision, $7 from, $8 until, $9 scope partner, $10 limit.
#define SLUIS_PG_AUDIT_FILTERS                                                                     \
  " AND leaf >= $1 AND ($2::text IS NULL OR client = $2) AND ($3::text IS NULL OR partner = $3)"   \
  " AND ($4::text IS NULL OR worker = $4) AND ($5::text IS NULL OR action = $5)"                   \
  " AND ($6::text IS NULL OR decision = $6) AND time_ms >= $7 AND time_ms < $8"                    \
  " AND ($9::text IS NULL OR partner = $9 OR owner_partner = $9) ORDER BY leaf LIMIT $10"
const std::string kQueryByClient =
    "SELECT leaf, canonical FROM audit_event WHERE client = $2" SLUIS_PG_AUDIT_FILTERS;
const std::string kQueryByScope = "SELECT leaf, canonical FROM audit_event WHERE (partner = $9 "
                                  "OR owner_partner = $9)" SLUIS_PG_AUDIT_FILTERS;
const std::string kQueryByPartner =
    "SELECT leaf, canonical FROM audit_event WHERE partner = $3" SLUIS_PG_AUDIT_FILTERS;
const std::string kQueryAll =
    "SELECT leaf, canonical FROM audit_event WHERE true" SLUIS_PG_AUDIT_FILTERS;
#undef SLUIS_PG_AUDIT_FILTERS

/// Rows verify() reads per statement (the snapshot keeps them one consistent view).
constexpr std::int64_t kVerifyPage = 10000;

error_code err(Errc e) {
  return make_error_code(e);
}

std::int64_t to_db(std::uint64_t v) {
  return static_cast<std::int64_t>(
      std::min<std::uint64_t>(v, std::numeric_limits<std::int64_t>::max()));
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string as_text(std::span<const std::uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::optional<crypto::Hash> hash_of(std::span<const std::uint8_t> b) {
  if (b.size() != crypto::kHashSize) return std::nullopt;
  crypto::Hash h{};
  std::copy(b.begin(), b.end(), h.begin());
  return h;
}

std::string when(Instant t) {
  return policy::format_time(std::chrono::floor<std::chrono::seconds>(t));
}

bool matches(const AuditEvent& e, const AuditQuery& q) {
  if (q.client && e.client != *q.client) return false;
  if (q.partner && e.partner != *q.partner) return false;
  if (q.worker && e.worker != *q.worker) return false;
  if (q.action && e.action != *q.action) return false;
  if (q.decision && e.decision != *q.decision) return false;
  if (q.from && e.time < *q.from) return false;
  if (q.until && e.time >= *q.until) return false;
  if (q.scope_partner && e.partner != *q.scope_partner && e.owner_partner != *q.scope_partner) {
    return false;
  }
  return true;
}

StoredCheckpoint checkpoint_of(const pg::Rows& rows, int row) {
  return {static_cast<std::uint64_t>(rows.int64(row, 0)),
          Instant(std::chrono::milliseconds(rows.int64(row, 1))), rows.text(row, 2)};
}

/// A node source over `c` (whose user the caller is). A missing row is an error, never a
/// made-up hash.
crypto::NodeSource source_over(pg::Conn& c) {
  return [&c](crypto::NodeId id) -> crypto::Result<crypto::Hash> {
    auto rows =
        c.query(kSelectNode, pg::Params().int64(std::int64_t{id.level}).int64(to_db(id.index)));
    if (!rows || rows->empty()) return crypto::make_error_code(crypto::Errc::io_error);
    auto h = hash_of(rows->bytes(0, 0));
    if (!h) return crypto::make_error_code(crypto::Errc::io_error);
    return *h;
  };
}

/// A transaction on one connection, rolled back unless committed.
class Tx {
 public:
  explicit Tx(pg::Conn& c) : c_(c) {}
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  ~Tx() {
    if (open_ && c_.in_transaction()) static_cast<void>(c_.exec("ROLLBACK"));
  }
  [[nodiscard]] Result<void> begin(const char* sql = "BEGIN") {
    if (auto r = c_.exec(sql); !r) return r;
    open_ = true;
    return {};
  }
  [[nodiscard]] Result<void> commit() {
    open_ = false;
    auto r = c_.exec("COMMIT");
    if (!r && c_.in_transaction()) static_cast<void>(c_.exec("ROLLBACK"));
    return r;
  }

 private:
  pg::Conn& c_;
  bool open_ = false;
};

/// One caller's pending append, owned by the caller while it waits.
struct Request : audit::GroupCommitRequest {
  std::span<const AuditEvent> events;
  error_code error;
  LeafRange range;
};

/// When a checkpoint is signed: when one is due (the tree grew and checkpoint_interval passed),
/// whenever the tree grew (a clean stop), or always unless the newest covers the tree (asked for).
enum class Sign : std::uint8_t { if_due, if_grew, always };

/// The tree row as read: the integrated size and its root.
struct TreeRow {
  std::uint64_t size = 0;
  crypto::Hash root{};
};

Result<TreeRow> read_tree(pg::Conn& c, const std::string& sql) {
  auto rows = c.query(sql);
  if (!rows) return rows.error();
  if (rows->empty()) return err(Errc::audit_log_inconsistent);
  auto root = hash_of(rows->bytes(0, 1));
  if (!root || rows->int64(0, 0) < 0) return err(Errc::audit_log_inconsistent);
  return TreeRow{static_cast<std::uint64_t>(rows->int64(0, 0)), *root};
}

Result<std::optional<StoredCheckpoint>> read_latest(pg::Conn& c) {
  auto rows = c.query(kLatestCheckpoint);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<StoredCheckpoint>{};
  return std::optional<StoredCheckpoint>(checkpoint_of(*rows, 0));
}

/// Inserts one event row: its leaf index, query columns and canonical bytes.
Result<void> insert_event(pg::Conn& c, std::uint64_t leaf, const AuditEvent& e,
                          std::string_view canonical) {
  const auto action = audit::to_string(e.action);
  const auto decision = audit::to_string(e.decision);
  return c.run(kInsertEvent, pg::Params()
                                 .int64(to_db(leaf))
                                 .int64(e.time.time_since_epoch().count())
                                 .text(e.partner)
                                 .text(e.worker)
                                 .text(action)
                                 .text(e.client)
                                 .text(decision)
                                 .text(e.owner_partner)
                                 .bytes(as_bytes(canonical)));
}

/// Inserts the perfect subtrees one leaf completed (Frontier::append), level 0 included.
Result<void> insert_nodes(pg::Conn& c, std::span<const crypto::StoredNode> nodes) {
  for (const auto& node : nodes) {
    if (auto r = c.run(kInsertNode, pg::Params()
                                        .int64(std::int64_t{node.id.level})
                                        .int64(to_db(node.id.index))
                                        .bytes(std::span<const std::uint8_t>(node.hash)));
        !r) {
      return r;
    }
  }
  return {};
}

/// The frontier of the stored tree at `row` (its nodes read through `c`), checked against the
/// row's root.
Result<crypto::Frontier> frontier_of(pg::Conn& c, const TreeRow& row) {
  const auto source = source_over(c);
  std::vector<crypto::Hash> nodes;
  for (const auto id : crypto::frontier_nodes(row.size)) {
    auto h = source(id);
    if (!h) return err(Errc::audit_log_inconsistent);
    nodes.push_back(*h);
  }
  auto f = crypto::Frontier::restore(row.size, nodes);
  if (!f || f->root() != row.root) return err(Errc::audit_log_inconsistent);
  return std::move(*f);
}

class PgAuditLog final : public audit::AuditLog {
 public:
  PgAuditLog() = default;
  ~PgAuditLog() override;
  PgAuditLog(const PgAuditLog&) = delete;
  PgAuditLog& operator=(const PgAuditLog&) = delete;

  [[nodiscard]] Result<void> open(PgAuditLogOptions options, const crypto::RootKey& root);

  [[nodiscard]] Result<LeafRange> append(std::span<const AuditEvent> events) override;
  [[nodiscard]] Result<std::string> checkpoint() override;
  [[nodiscard]] Result<StoredCheckpoint> latest_checkpoint() const override;
  [[nodiscard]] Result<std::vector<StoredCheckpoint>> checkpoints(std::uint64_t min_size,
                                                                  std::size_t limit) const override;
  /// The events this node knows to be durable: what it sequenced itself or last saw sequenced
  /// (proofs up to it wait for the integrator; see integration_wait).
  [[nodiscard]] std::uint64_t size() const noexcept override {
    return std::max(integrated_.load(std::memory_order_acquire),
                    sequenced_.load(std::memory_order_acquire));
  }
  [[nodiscard]] const std::string& origin() const noexcept override { return origin_; }
  [[nodiscard]] const crypto::NoteVerifierKey& verifier_key() const noexcept override {
    return *verifier_;
  }
  [[nodiscard]] Result<InclusionProof> inclusion_proof(std::uint64_t index,
                                                       std::uint64_t size) const override;
  [[nodiscard]] Result<std::vector<crypto::Hash>>
  consistency_proof(std::uint64_t old_size, std::uint64_t new_size) const override;
  [[nodiscard]] Result<crypto::Hash> root_at(std::uint64_t size) const override;
  [[nodiscard]] Result<StoredEvent> event(std::uint64_t leaf) const override;
  [[nodiscard]] Result<AuditPage> query(const AuditQuery& query) const override;
  [[nodiscard]] Result<AuditVerifyReport> verify() const override;

 private:
  [[nodiscard]] Instant now() const {
    if (options_.clock) return options_.clock();
    return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  }
  [[nodiscard]] bool inject(std::string_view step) const {
    return options_.inject_failure && options_.inject_failure(step);
  }
  [[nodiscard]] Result<void> connect(pg::Conn& c) const {
    if (auto r = pg::connect_node(c, options_.database, password_ ? &*password_ : nullptr); !r) {
      return r;
    }
    // Durable before append() returns, whatever the server's default says.
    return c.exec("SET synchronous_commit = on");
  }
  /// Reconnects `c` when the server ended its session (restart, pg_terminate_backend).
  [[nodiscard]] Result<void> revive(pg::Conn& c) const {
    if (c.probe()) return {};
    return connect(c);
  }

  [[nodiscard]] Result<void> start_up_check();
  [[nodiscard]] Result<std::string> meta(pg::Conn& c, const std::string& name) const;

  // --- the sequencer ---
  void sequencer_loop();
  void sequence(std::span<Request* const> batch);
  [[nodiscard]] Result<void> write_batch(std::span<Request* const> batch);

  // --- the integrator ---
  void integrator_loop();
  /// One integration transaction: folds up to max_integrate_events sequenced events into the
  /// tree and signs a checkpoint as `sign` says. Returns the events folded in.
  [[nodiscard]] Result<std::uint64_t> integrate_once(Sign sign);
  /// Brings the frontier to the tree row (another integrator, or this node's first round).
  [[nodiscard]] Result<void> load_frontier(const TreeRow& row);
  /// Signs and stores a checkpoint of the tree row inside the caller's transaction (the row
  /// locked FOR UPDATE), unless the newest stored one covers it already.
  [[nodiscard]] Result<std::optional<StoredCheckpoint>> sign_in_tx(pg::Conn& c, const TreeRow& row,
                                                                   Sign sign);
  /// Reads the tree row and the newest checkpoint into this node's view (size(), latest).
  void refresh_view(pg::Conn& c) const;
  /// Waits until the integrated tree holds `size` events: invalid_argument when `size` was never
  /// sequenced, busy when integration_wait passes first.
  [[nodiscard]] Result<void> wait_integrated(std::uint64_t size) const;

  PgAuditLogOptions options_;
  std::optional<crypto::SecretBuffer> password_;
  std::optional<crypto::SigningKey> signer_;
  std::optional<crypto::NoteVerifierKey> verifier_;
  std::string origin_;

  // Sequencer state: its connection and queue.
  pg::Conn sdb_;
  std::optional<audit::GroupCommitQueue<Request>> queue_;  ///< made when the sequencer starts
  std::thread sequencer_;

  // Integrator state: touched only by the integrator thread (and open() before it starts).
  pg::Conn idb_;
  bool holder_ = false;
  crypto::Frontier frontier_;
  std::vector<crypto::StoredNode> completed_;
  std::chrono::steady_clock::time_point last_checkpoint_at_{};
  std::thread integrator_;
  std::mutex integrator_mutex_;
  std::condition_variable integrator_cv_;
  bool integrator_stopping_ = false;
  bool integrate_soon_ = false;

  /// Raises sequenced_ to `n` (never lowers it).
  void note_sequenced(std::uint64_t n) const noexcept {
    auto seen = sequenced_.load(std::memory_order_acquire);
    while (seen < n && !sequenced_.compare_exchange_weak(seen, n, std::memory_order_acq_rel)) {
    }
  }

  // This node's view of the shared tree.
  mutable std::atomic<std::uint64_t> integrated_{0};
  mutable std::atomic<std::uint64_t> sequenced_{0};
  mutable std::mutex latest_mutex_;
  mutable std::optional<StoredCheckpoint> latest_;
  mutable std::mutex view_mutex_;
  mutable std::condition_variable view_cv_;  ///< notified when the integrated size grows

  // Reads: their own connection, serialised among themselves.
  mutable std::mutex read_mutex_;
  mutable pg::Conn rdb_;
};

PgAuditLog::~PgAuditLog() {
  if (sequencer_.joinable()) {
    queue_->stop();
    sequencer_.join();
  }
  if (integrator_.joinable()) {
    {
      std::lock_guard lk(integrator_mutex_);
      integrator_stopping_ = true;
    }
    integrator_cv_.notify_one();
    integrator_.join();
  }
}

Result<std::string> PgAuditLog::meta(pg::Conn& c, const std::string& name) const {
  auto rows = c.query(kSelectMeta, pg::Params().text(name));
  if (!rows) return rows.error();
  if (rows->empty()) return err(Errc::not_found);
  return rows->text(0, 0);
}

Result<void> PgAuditLog::open(PgAuditLogOptions options, const crypto::RootKey& root) {
  options_ = std::move(options);
  if (options_.database.conninfo.empty()) return err(Errc::invalid_argument);
  if (options_.database.application_name.empty()) options_.database.application_name = "sluisd";
  options_.max_batch_events = std::max<std::size_t>(options_.max_batch_events, 1);
  options_.max_integrate_events = std::max<std::size_t>(options_.max_integrate_events, 1);
  if (!options_.database.password_file.empty()) {
    auto pw = pg::read_password_file(options_.database.password_file);
    if (!pw) return pw.error();
    password_.emplace(std::move(*pw));
  }
  signer_ = crypto::SigningKey::from_subkey(
      crypto::derive_subkey(root, crypto::KeyPurpose::audit_signing));

  if (auto r = connect(rdb_); !r) return r;
  if (!options_.read_only) {
    auto v = pg::migrate_schema(rdb_, -1, now().time_since_epoch().count());
    if (!v) return v.error();
    if (auto r = rdb_.run(kInsertMeta, pg::Params().text("schema").text(kAuditSchemaVersion)); !r) {
      return r;
    }
    if (!options_.origin.empty()) {
      if (auto r = rdb_.run(kInsertMeta, pg::Params().text("origin").text(options_.origin)); !r) {
        return r;
      }
    }
  }
  auto schema = meta(rdb_, "schema");
  if (!schema) {
    // A database without the audit tables (never opened by a gateway) reads as "not found".
    return schema.error() == err(Errc::storage_failure) ? err(Errc::not_found) : schema.error();
  }
  if (*schema != kAuditSchemaVersion) return err(Errc::schema_too_new);
  auto stored_origin = meta(rdb_, "origin");
  if (!stored_origin) return stored_origin.error();
  if (!options_.origin.empty() && options_.origin != *stored_origin) {
    return err(Errc::audit_log_inconsistent);
  }
  origin_ = *stored_origin;
  auto verifier = crypto::make_verifier_key(origin_, signer_->verifying_key());
  if (!verifier) return err(Errc::invalid_argument);
  verifier_ = std::move(*verifier);

  if (options_.read_only) {
    refresh_view(rdb_);
    return {};
  }
  if (auto r = start_up_check(); !r) return r;
  if (auto r = connect(sdb_); !r) return r;
  if (auto r = connect(idb_); !r) return r;
  queue_.emplace(options_.group_commit_window, options_.max_batch_events);
  sequencer_ = std::thread([this] { sequencer_loop(); });
  integrator_ = std::thread([this] { integrator_loop(); });
  return {};
}

/// As the SQLCipher log's start-up: the frontier of the tree row from the stored nodes, its root
/// against the row, the newest integrated event against its leaf, and the latest checkpoint's
/// signature, size and root. Cheap at any size (O(log n) rows).
Result<void> PgAuditLog::start_up_check() {
  Tx tx(rdb_);
  if (auto r = tx.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !r) return r;
  auto row = read_tree(rdb_, kTree);
  if (!row) return row.error();
  const auto source = source_over(rdb_);
  if (auto f = frontier_of(rdb_, *row); !f) return f.error();
  if (row->size > 0) {
    auto last = rdb_.query(kSelectEvent, pg::Params().int64(to_db(row->size - 1)));
    if (!last) return last.error();
    auto leaf = source(crypto::NodeId{0, row->size - 1});
    if (last->empty() || !leaf || crypto::leaf_hash(last->bytes(0, 0)) != *leaf) {
      return err(Errc::audit_log_inconsistent);
    }
  }
  // Every sequenced event is stored (one pass over the smallest index, as the SQLCipher log's
  // count): a deleted row is refused here, before the integrator folds a hole into the tree.
  auto sequenced = rdb_.query(kSequenced);
  if (!sequenced) return sequenced.error();
  auto count = rdb_.query(kCountEvents);
  if (!count) return count.error();
  if (sequenced->empty() || sequenced->int64(0, 0) < to_db(row->size) ||
      count->int64(0, 0) != sequenced->int64(0, 0)) {
    return err(Errc::audit_log_inconsistent);
  }
  note_sequenced(static_cast<std::uint64_t>(sequenced->int64(0, 0)));
  auto cp = read_latest(rdb_);
  if (!cp) return cp.error();
  if (*cp) {
    auto parsed =
        crypto::verify_checkpoint((*cp)->note, signer_->verifying_key(), origin_, origin_);
    if (!parsed || parsed->size != (*cp)->size || parsed->size > row->size) {
      return err(Errc::audit_log_inconsistent);
    }
    auto root = crypto::root_at(parsed->size, source);
    if (!root || *root != parsed->root) return err(Errc::audit_log_inconsistent);
    std::lock_guard lk(latest_mutex_);
    latest_ = **cp;
  }
  integrated_.store(row->size, std::memory_order_release);
  return tx.commit();
}

// --- the sequencer ---

void PgAuditLog::sequencer_loop() {
  std::vector<Request*> batch;
  while (!queue_->next_batch(batch).stopped) {
    sequence(batch);
    queue_->complete(batch);
  }
}

void PgAuditLog::sequence(std::span<Request* const> batch) {
  const auto result = write_batch(batch);
  if (!result) {
    for (auto* r : batch)
      r->error = result.error();
    return;
  }
  {
    std::lock_guard lk(integrator_mutex_);
    integrate_soon_ = true;
  }
  integrator_cv_.notify_one();
}

Result<void> PgAuditLog::write_batch(std::span<Request* const> batch) {
  if (auto r = revive(sdb_); !r) return r;
  std::int64_t count = 0;
  for (const auto* r : batch)
    count += static_cast<std::int64_t>(r->canonical.size());
  Tx tx(sdb_);
  if (auto r = tx.begin(); !r) return r;
  if (inject("append.insert")) return err(Errc::injected_failure);
  // The only row the nodes serialise on: held from here to COMMIT, so indices are dense (a
  // batch that rolls back gives its numbers back before the next batch takes them).
  auto first = sdb_.query(kSequence, pg::Params().int64(count));
  if (!first) return first.error();
  if (first->empty()) return err(Errc::audit_log_inconsistent);
  auto leaf = static_cast<std::uint64_t>(first->int64(0, 0));
  for (auto* r : batch) {
    r->range.first = leaf;
    for (std::size_t i = 0; i < r->canonical.size(); ++i, ++leaf) {
      if (auto run = insert_event(sdb_, leaf, r->events[i], r->canonical[i]); !run) return run;
    }
    r->range.count = r->canonical.size();
  }
  if (inject("append.commit")) return err(Errc::injected_failure);
  if (auto r = tx.commit(); !r) return r;
  note_sequenced(leaf);
  return {};
}

Result<LeafRange> PgAuditLog::append(std::span<const AuditEvent> events) {
  if (options_.read_only) return err(Errc::not_permitted);
  if (events.empty()) return LeafRange{size(), 0};
  Request request;
  request.events = events;
  request.canonical.reserve(events.size());
  for (const auto& e : events) {
    auto bytes = audit::encode_audit_event(e);  // on the caller's thread
    if (!bytes) return bytes.error();
    request.canonical.push_back(std::move(*bytes));
  }
  if (!queue_ || !queue_->submit(request)) return err(Errc::storage_failure);
  if (request.error) return request.error;
  return request.range;
}

// --- the integrator ---

void PgAuditLog::integrator_loop() {
  bool first = true;  // try the lock at once: a node that starts alone integrates from the start
  for (;;) {
    bool stop = false;
    {
      std::unique_lock lk(integrator_mutex_);
      if (!first) {
        integrator_cv_.wait_for(lk, options_.integrator_poll,
                                [this] { return integrator_stopping_ || integrate_soon_; });
      }
      first = false;
      stop = integrator_stopping_;
      integrate_soon_ = false;
    }
    if (!idb_.probe()) {
      holder_ = false;  // the session ended, and the lock with it
      if (!connect(idb_)) {
        if (stop) return;
        continue;
      }
    }
    if (!holder_) {
      auto got = idb_.query(kTryLock, pg::Params().int64(kIntegratorLock));
      holder_ = got && !got->empty() && got->boolean(0, 0);
      if (holder_) frontier_ = crypto::Frontier{};  // reloaded from the tree row
    }
    if (!holder_) {
      refresh_view(idb_);
      if (stop) return;
      continue;
    }
    // Holder: fold in everything sequenced (several rounds when much is pending); at a clean
    // stop, sign what was integrated so the next start has a checkpoint to check.
    for (;;) {
      if (inject("integrate")) break;
      auto n = integrate_once(stop ? Sign::if_grew : Sign::if_due);
      if (!n) {
        if (n.error() == Errc::unavailable) holder_ = false;
        break;
      }
      if (*n < options_.max_integrate_events) break;
    }
    if (stop) return;
  }
}

Result<void> PgAuditLog::load_frontier(const TreeRow& row) {
  if (frontier_.size() == row.size && frontier_.root() == row.root) return {};
  auto f = frontier_of(idb_, row);
  if (!f) return f.error();
  frontier_ = std::move(*f);
  return {};
}

Result<std::uint64_t> PgAuditLog::integrate_once(Sign sign) {
  Tx tx(idb_);
  if (auto r = tx.begin(); !r) return r.error();
  // The guard: the tree row, locked. A second integrator (a holder that lost its session but
  // not yet its thread) waits here, then finds the size moved and folds in only what follows.
  auto row = read_tree(idb_, kTreeForUpdate);
  if (!row) return row.error();
  if (auto r = load_frontier(*row); !r) return r.error();
  auto rows = idb_.query(kToIntegrate,
                         pg::Params()
                             .int64(to_db(row->size))
                             .int64(static_cast<std::int64_t>(options_.max_integrate_events)));
  if (!rows) return rows.error();
  const crypto::Frontier saved = frontier_;
  std::uint64_t folded = 0;
  for (int i = 0; i < rows->size(); ++i) {
    // Only the dense prefix: a lower index another node sequenced may still be committing.
    if (static_cast<std::uint64_t>(rows->int64(i, 0)) != frontier_.size()) break;
    completed_.clear();
    frontier_.append(crypto::leaf_hash(rows->bytes(i, 1)), completed_);
    if (auto r = insert_nodes(idb_, completed_); !r) {
      frontier_ = saved;
      return r.error();
    }
    ++folded;
  }
  TreeRow next{frontier_.size(), frontier_.root()};
  if (folded > 0) {
    auto moved = idb_.query(kAdvanceTree, pg::Params()
                                              .int64(to_db(next.size))
                                              .bytes(std::span<const std::uint8_t>(next.root))
                                              .int64(now().time_since_epoch().count())
                                              .int64(to_db(row->size)));
    if (!moved || moved->affected() != 1) {
      frontier_ = saved;
      return moved ? err(Errc::audit_log_inconsistent) : moved.error();
    }
  }
  auto cp = sign_in_tx(idb_, next, sign);
  if (!cp) {
    frontier_ = saved;
    return cp.error();
  }
  if (inject("integrate.commit")) {
    frontier_ = saved;
    return err(Errc::injected_failure);
  }
  if (auto r = tx.commit(); !r) {
    frontier_ = saved;
    return r.error();
  }
  if (*cp) {
    last_checkpoint_at_ = std::chrono::steady_clock::now();
    std::lock_guard lk(latest_mutex_);
    latest_ = std::move(*cp);
  }
  {
    std::lock_guard lk(view_mutex_);
    integrated_.store(next.size, std::memory_order_release);
  }
  view_cv_.notify_all();
  return folded;
}

Result<std::optional<StoredCheckpoint>> PgAuditLog::sign_in_tx(pg::Conn& c, const TreeRow& row,
                                                               Sign sign) {
  auto latest = read_latest(c);
  if (!latest) return latest.error();
  const bool have = latest->has_value();
  const std::uint64_t signed_size = have ? (*latest)->size : 0;
  if (have && signed_size >= row.size) return std::optional<StoredCheckpoint>{};
  const bool grew = row.size > signed_size;
  // last_checkpoint_at_ is the integrator's: read only on its thread (Sign::if_due).
  const bool wanted = sign == Sign::always || (grew && sign == Sign::if_grew) ||
                      (grew && std::chrono::steady_clock::now() - last_checkpoint_at_ >=
                                   options_.checkpoint_interval);
  if (!wanted) return std::optional<StoredCheckpoint>{};
  auto note = crypto::sign_checkpoint(origin_, row.size, row.root, *signer_, origin_);
  if (!note) return err(Errc::storage_failure);
  StoredCheckpoint cp{row.size, now(), std::move(*note)};
  if (auto r = c.run(kInsertCheckpoint, pg::Params()
                                            .int64(to_db(cp.size))
                                            .int64(cp.issued.time_since_epoch().count())
                                            .text(cp.note));
      !r) {
    return r.error();
  }
  return std::optional<StoredCheckpoint>(std::move(cp));
}

void PgAuditLog::refresh_view(pg::Conn& c) const {
  if (auto sequenced = c.query(kSequenced); sequenced && !sequenced->empty()) {
    note_sequenced(static_cast<std::uint64_t>(sequenced->int64(0, 0)));
  }
  auto row = read_tree(c, kTree);
  auto cp = read_latest(c);
  if (cp && *cp) {
    std::lock_guard lk(latest_mutex_);
    if (!latest_ || latest_->size < (*cp)->size) latest_ = **cp;
  }
  if (row) {
    {
      std::lock_guard lk(view_mutex_);
      if (row->size > integrated_.load(std::memory_order_acquire)) {
        integrated_.store(row->size, std::memory_order_release);
      }
    }
    view_cv_.notify_all();
  }
}

Result<void> PgAuditLog::wait_integrated(std::uint64_t size) const {
  if (size <= integrated_.load(std::memory_order_acquire)) return {};
  const auto deadline = std::chrono::steady_clock::now() + options_.integration_wait;
  {
    std::lock_guard lk(read_mutex_);
    if (auto r = revive(rdb_); !r) return r;
    auto sequenced = rdb_.query(kSequenced);
    if (!sequenced) return sequenced.error();
    if (sequenced->empty() || static_cast<std::uint64_t>(sequenced->int64(0, 0)) < size) {
      return err(Errc::invalid_argument);  // never sequenced: as a size past the SQLCipher log
    }
  }
  for (;;) {
    {
      std::lock_guard lk(read_mutex_);
      refresh_view(rdb_);
    }
    if (size <= integrated_.load(std::memory_order_acquire)) return {};
    if (std::chrono::steady_clock::now() >= deadline) return err(Errc::busy);
    std::unique_lock lk(view_mutex_);
    view_cv_.wait_for(lk, std::chrono::milliseconds(20),
                      [&] { return size <= integrated_.load(std::memory_order_acquire); });
  }
}

Result<std::string> PgAuditLog::checkpoint() {
  if (options_.read_only) return err(Errc::not_permitted);
  std::uint64_t target = 0;
  {
    std::lock_guard lk(read_mutex_);
    if (auto r = revive(rdb_); !r) return r.error();
    auto sequenced = rdb_.query(kSequenced);
    if (!sequenced) return sequenced.error();
    if (!sequenced->empty()) target = static_cast<std::uint64_t>(sequenced->int64(0, 0));
  }
  {
    std::lock_guard lk(integrator_mutex_);
    integrate_soon_ = true;
  }
  integrator_cv_.notify_one();
  if (auto r = wait_integrated(target); !r) return r.error();
  // Any node may sign the integrated tree: the row lock orders it with the integrator, and the
  // root is checked against the stored nodes first.
  std::lock_guard lk(read_mutex_);
  Tx tx(rdb_);
  if (auto r = tx.begin(); !r) return r.error();
  auto row = read_tree(rdb_, kTreeForUpdate);
  if (!row) return row.error();
  auto root = crypto::root_at(row->size, source_over(rdb_));
  if (!root || *root != row->root) return err(Errc::audit_log_inconsistent);
  auto cp = sign_in_tx(rdb_, *row, Sign::always);
  if (!cp) return cp.error();
  if (auto r = tx.commit(); !r) return r.error();
  if (*cp) {
    std::lock_guard latest_lock(latest_mutex_);
    latest_ = **cp;
    return (*cp)->note;
  }
  auto latest = read_latest(rdb_);
  if (!latest) return latest.error();
  if (!*latest) return err(Errc::not_found);
  std::lock_guard latest_lock(latest_mutex_);
  if (!latest_ || latest_->size < (*latest)->size) latest_ = **latest;
  return (*latest)->note;
}

Result<StoredCheckpoint> PgAuditLog::latest_checkpoint() const {
  std::lock_guard lk(latest_mutex_);
  if (!latest_) return err(Errc::not_found);
  return *latest_;
}

Result<std::vector<StoredCheckpoint>> PgAuditLog::checkpoints(std::uint64_t min_size,
                                                              std::size_t limit) const {
  std::lock_guard lk(read_mutex_);
  if (auto r = revive(rdb_); !r) return r.error();
  auto rows = rdb_.query(kCheckpointsFrom,
                         pg::Params()
                             .int64(to_db(min_size))
                             .int64(to_db(std::min<std::size_t>(limit, std::size_t{1} << 30))));
  if (!rows) return rows.error();
  std::vector<StoredCheckpoint> out;
  for (int i = 0; i < rows->size(); ++i)
    out.push_back(checkpoint_of(*rows, i));
  return out;
}

// --- proofs and reads ---

Result<InclusionProof> PgAuditLog::inclusion_proof(std::uint64_t index, std::uint64_t size) const {
  if (index >= size) return err(Errc::invalid_argument);
  if (auto r = wait_integrated(size); !r) return r.error();
  std::lock_guard lk(read_mutex_);
  const auto source = source_over(rdb_);
  InclusionProof proof;
  proof.index = index;
  proof.size = size;
  auto leaf = source(crypto::NodeId{0, index});
  if (!leaf) return err(Errc::storage_failure);
  proof.leaf_hash = *leaf;
  auto path = crypto::inclusion_proof(index, size, source);
  if (!path) return err(Errc::storage_failure);
  proof.path = std::move(*path);
  return proof;
}

Result<std::vector<crypto::Hash>> PgAuditLog::consistency_proof(std::uint64_t old_size,
                                                                std::uint64_t new_size) const {
  if (old_size > new_size) return err(Errc::invalid_argument);
  if (auto r = wait_integrated(new_size); !r) return r.error();
  std::lock_guard lk(read_mutex_);
  auto proof = crypto::consistency_proof(old_size, new_size, source_over(rdb_));
  if (!proof) return err(Errc::storage_failure);
  return std::move(*proof);
}

Result<crypto::Hash> PgAuditLog::root_at(std::uint64_t size) const {
  if (auto r = wait_integrated(size); !r) return r.error();
  std::lock_guard lk(read_mutex_);
  auto root = crypto::root_at(size, source_over(rdb_));
  if (!root) return err(Errc::storage_failure);
  return *root;
}

Result<StoredEvent> PgAuditLog::event(std::uint64_t leaf) const {
  std::lock_guard lk(read_mutex_);
  if (auto r = revive(rdb_); !r) return r.error();
  auto rows = rdb_.query(kSelectEvent, pg::Params().int64(to_db(leaf)));
  if (!rows) return rows.error();
  if (rows->empty()) return err(Errc::not_found);
  StoredEvent out;
  out.leaf = leaf;
  out.canonical = as_text(rows->bytes(0, 0));
  auto e = audit::decode_audit_event(out.canonical);
  if (!e) return e.error();
  out.event = std::move(*e);
  return out;
}

Result<AuditPage> PgAuditLog::query(const AuditQuery& q) const {
  if (q.limit == 0 || q.limit > audit::kMaxAuditPage) return err(Errc::invalid_argument);
  const std::string* sql = &kQueryAll;
  if (q.client) {
    sql = &kQueryByClient;
  } else if (q.scope_partner) {
    sql = &kQueryByScope;
  } else if (q.partner) {
    sql = &kQueryByPartner;
  }
  const std::optional<std::string> action =
      q.action ? std::optional<std::string>(std::string(audit::to_string(*q.action)))
               : std::nullopt;
  const std::optional<std::string> decision =
      q.decision ? std::optional<std::string>(std::string(audit::to_string(*q.decision)))
                 : std::nullopt;
  pg::Params params;
  auto opt = [&](const std::optional<std::string>& v) {
    if (v) {
      params.text(*v);
    } else {
      params.null(pg::kText);
    }
  };
  params.int64(to_db(q.cursor));
  opt(q.client);
  opt(q.partner);
  opt(q.worker);
  opt(action);
  opt(decision);
  params.int64(q.from ? std::int64_t{q.from->time_since_epoch().count()}
                      : std::numeric_limits<std::int64_t>::min());
  params.int64(q.until ? std::int64_t{q.until->time_since_epoch().count()}
                       : std::numeric_limits<std::int64_t>::max());
  opt(q.scope_partner);
  params.int64(static_cast<std::int64_t>(q.limit + 1));
  std::lock_guard lk(read_mutex_);
  if (auto r = revive(rdb_); !r) return r.error();
  auto rows = rdb_.query(*sql, params);
  if (!rows) return rows.error();
  AuditPage page;
  for (int i = 0; i < rows->size(); ++i) {
    const auto leaf = static_cast<std::uint64_t>(rows->int64(i, 0));
    if (static_cast<std::size_t>(i) >= q.limit) {
      page.next = leaf;
      break;
    }
    StoredEvent se;
    se.leaf = leaf;
    se.canonical = as_text(rows->bytes(i, 1));
    auto e = audit::decode_audit_event(se.canonical);
    if (!e) return err(Errc::audit_log_inconsistent);
    se.event = std::move(*e);
    // The index columns picked the row; the signed bytes decide (verify reports a mismatch).
    if (!matches(se.event, q)) continue;
    if (q.scope_partner) {
      se.canonical.clear();
      if (!q.client) se.event.client.clear();
    }
    page.events.push_back(std::move(se));
  }
  return page;
}

// --- verify ---

/// verify()'s checks, as the SQLCipher log's verify_records (gateway/audit/src/log.cpp) without
/// the page walk: every leaf recomputed from the stored bytes, compared with the stored tree and
/// every checkpoint; dense indices; query columns against the bytes; the first event that
/// differs named. Runs inside one REPEATABLE READ snapshot on `c`.
class Verifier {
 public:
  Verifier(pg::Conn& c, const crypto::SigningKey& signer, const std::string& origin,
           AuditVerifyReport& report)
      : c_(c), signer_(signer), origin_(origin), report_(report), source_(source_over(c)) {}

  [[nodiscard]] Result<void> run() {
    auto row = read_tree(c_, kTree);
    if (!row) {
      if (row.error() != Errc::audit_log_inconsistent) return row.error();
      report_.problems.push_back("the tree row (integrated size and root) is missing or damaged");
      row = TreeRow{};
    }
    tree_row_ = *row;
    auto sequenced = c_.query(kSequenced);
    if (!sequenced) return sequenced.error();
    sequenced_ = sequenced->empty() ? 0 : static_cast<std::uint64_t>(sequenced->int64(0, 0));
    if (auto r = read_checkpoints(); !r) return r;
    check_heads();  // a checkpoint of the empty tree
    if (auto r = read_events(); !r) return r;
    report_.root = tree_.root();
    return finish();
  }

 private:
  void note_problem(std::uint64_t leaf, std::optional<Instant> t, const std::string& what) {
    std::string line = "event #" + std::to_string(leaf);
    if (t) line += " (" + when(*t) + ")";
    line += ": " + what;
    report_.problems.push_back(std::move(line));
  }
  void found(std::uint64_t leaf, std::optional<Instant> t, std::string what) {
    note_problem(leaf, t, what);
    if (!report_.first_difference || leaf < report_.first_difference->leaf) {
      report_.first_difference = AuditFinding{leaf, t, std::move(what)};
    }
  }
  void found_range(std::uint64_t leaf, std::optional<Instant> t, std::string what) {
    note_problem(leaf, t, what);
    if (!range_finding_ || leaf < range_finding_->leaf) {
      range_finding_ = AuditFinding{leaf, t, std::move(what)};
    }
  }
  std::optional<Instant> time_of(std::uint64_t leaf) const {
    auto it = std::lower_bound(times_.begin(), times_.end(), leaf,
                               [](const auto& p, std::uint64_t l) { return p.first < l; });
    if (it == times_.end()) return std::nullopt;
    return it->second;
  }
  void bad_leaf(std::uint64_t leaf) {
    first_bad_leaf_ = std::min(first_bad_leaf_.value_or(leaf), leaf);
  }

  Result<void> read_checkpoints() {
    auto rows = c_.query(kCheckpointsFrom,
                         pg::Params().int64(0).int64(std::numeric_limits<std::int64_t>::max()));
    if (!rows) return rows.error();
    for (int i = 0; i < rows->size(); ++i) {
      ++report_.checkpoints;
      auto cp = checkpoint_of(*rows, i);
      auto parsed = crypto::verify_checkpoint(cp.note, signer_.verifying_key(), origin_, origin_);
      if (!parsed) {
        report_.problems.push_back("checkpoint at size " + std::to_string(cp.size) +
                                   ": its signature does not verify with the audit key (" +
                                   parsed.error().message() + ")");
      } else if (parsed->size != cp.size) {
        report_.problems.push_back("checkpoint at size " + std::to_string(cp.size) +
                                   ": the signed note names size " + std::to_string(parsed->size));
      } else {
        heads_.push_back({parsed->size, parsed->root});
      }
      report_.latest = std::move(cp);
    }
    return {};
  }

  void check_heads() {
    while (next_head_ < heads_.size() && heads_[next_head_].size <= tree_.size()) {
      const auto& head = heads_[next_head_++];
      if (head.size != tree_.size()) continue;  // passed over because rows were missing
      if (tree_.root() == head.root) {
        last_good_head_ = head.size;
        continue;
      }
      report_.problems.push_back("checkpoint at size " + std::to_string(head.size) +
                                 " does not match the tree recomputed from the events");
      found_range(last_good_head_, time_of(last_good_head_),
                  "the events from #" + std::to_string(last_good_head_) + " to #" +
                      std::to_string(head.size - 1) + " differ from what the checkpoint at size " +
                      std::to_string(head.size) + " signed");
    }
  }

  Result<void> read_events() {
    std::uint64_t cursor = 0;
    for (;;) {
      auto rows = c_.query(kVerifyEvents, pg::Params().int64(to_db(cursor)).int64(kVerifyPage));
      if (!rows) return rows.error();
      for (int i = 0; i < rows->size(); ++i)
        check_event(*rows, i);
      if (rows->size() < kVerifyPage) return {};
      cursor = static_cast<std::uint64_t>(rows->int64(rows->size() - 1, 0)) + 1;
    }
  }

  void check_event(const pg::Rows& rows, int i) {
    ++report_.events;
    const auto leaf = static_cast<std::uint64_t>(rows.int64(i, 0));
    const Instant t{std::chrono::milliseconds(rows.int64(i, 1))};
    times_.emplace_back(leaf, t);
    const std::uint64_t expected = tree_.size();
    if (leaf != expected) {
      found(expected, t,
            "missing: no event is stored at this index (deleted); the next stored event is #" +
                std::to_string(leaf));
      bad_leaf(expected);
    }
    const std::string canonical = as_text(rows.bytes(i, 8));
    const auto h = crypto::leaf_hash(canonical);
    const bool integrated = expected < tree_row_.size;
    if (integrated) {
      if (rows.is_null(i, 9)) {
        found_range(expected, t, "its leaf hash is missing from the stored tree");
        bad_leaf(expected);
      } else if (hash_of(rows.bytes(i, 9)) != h) {
        found(expected, t,
              "its bytes do not match the leaf hash recorded in the tree (changed, moved or "
              "reordered)");
        bad_leaf(expected);
      }
    }
    auto decoded = audit::decode_audit_event(canonical);
    if (!decoded) {
      found(expected, t, "its stored bytes are not a canonical audit event");
    } else {
      const auto& e = *decoded;
      if (e.time != t || e.partner != rows.text(i, 2) || e.worker != rows.text(i, 3) ||
          audit::to_string(e.action) != rows.text(i, 4) || e.client != rows.text(i, 5) ||
          audit::to_string(e.decision) != rows.text(i, 6) || e.owner_partner != rows.text(i, 7)) {
        found(expected, t, "its query columns differ from its signed bytes");
      }
    }
    completed_.clear();
    tree_.append(h, completed_);
    for (const auto& node : completed_) {
      if (node.id.level == 0) continue;
      const std::uint64_t end = node.id.first_leaf() + (std::uint64_t{1} << node.id.level);
      if (end > tree_row_.size) continue;  // not integrated yet
      if (first_bad_leaf_ && *first_bad_leaf_ >= node.id.first_leaf()) continue;  // a consequence
      auto hash = source_(node.id);
      if (!hash || *hash != node.hash) {
        report_.problems.push_back("tree node (level " + std::to_string(node.id.level) +
                                   ", index " + std::to_string(node.id.index) +
                                   ") is missing or differs from the recomputed tree");
      }
    }
    if (tree_.size() == tree_row_.size) integrated_root_ = tree_.root();
    check_heads();
  }

  Result<void> finish() {
    const std::uint64_t held = tree_.size();
    if (tree_row_.size == 0) integrated_root_ = crypto::empty_root();
    for (; next_head_ < heads_.size(); ++next_head_) {
      const auto& head = heads_[next_head_];
      if (head.size > held) {
        report_.problems.push_back("checkpoint at size " + std::to_string(head.size) +
                                   " covers more events than the log holds (" +
                                   std::to_string(held) + ")");
        found_range(held, std::nullopt,
                    "missing: the events from #" + std::to_string(held) + " to #" +
                        std::to_string(head.size - 1) +
                        " were signed but are not stored (deleted)");
      }
    }
    if (sequenced_ > held) {
      // A range: the rows are gone, and an earlier precise finding (or range) says more.
      found_range(held, std::nullopt,
                  "missing: the events from #" + std::to_string(held) + " to #" +
                      std::to_string(sequenced_ - 1) +
                      " were sequenced but are not stored (deleted)");
    } else if (sequenced_ < held) {
      report_.problems.push_back("the sequence row (" + std::to_string(sequenced_) +
                                 ") is behind the events stored (" + std::to_string(held) + ")");
    }
    auto orphans = c_.query(kOrphanLeaves, pg::Params().int64(to_db(held)));
    if (!orphans) return orphans.error();
    if (!orphans->empty() && orphans->int64(0, 0) > 0) {
      found(held, std::nullopt,
            "missing: the tree holds leaf hashes for events that are not stored (deleted)");
    }
    if (!report_.first_difference) report_.first_difference = std::move(range_finding_);

    for (std::size_t i = 1; i < heads_.size(); ++i) {
      const auto& a = heads_[i - 1];
      const auto& b = heads_[i];
      auto proof = crypto::consistency_proof(a.size, b.size, source_);
      if (!proof || !crypto::verify_consistency(a.size, b.size, a.root, b.root, *proof)) {
        report_.problems.push_back("checkpoints at sizes " + std::to_string(a.size) + " and " +
                                   std::to_string(b.size) +
                                   " are not proven consistent by the stored tree");
      }
    }
    if (report_.problems.empty()) {
      auto stored_root = crypto::root_at(tree_row_.size, source_);
      if (!integrated_root_ || !stored_root || *stored_root != *integrated_root_ ||
          tree_row_.root != *integrated_root_) {
        report_.problems.push_back("the stored tree's root differs from the recomputed root");
      }
    }
    return {};
  }

  struct Signed {
    std::uint64_t size;
    crypto::Hash root;
  };
  pg::Conn& c_;
  const crypto::SigningKey& signer_;
  const std::string& origin_;
  AuditVerifyReport& report_;
  crypto::NodeSource source_;
  TreeRow tree_row_;
  std::uint64_t sequenced_ = 0;
  std::vector<Signed> heads_;
  std::size_t next_head_ = 0;
  std::uint64_t last_good_head_ = 0;
  std::optional<std::uint64_t> first_bad_leaf_;
  std::optional<AuditFinding> range_finding_;
  std::vector<std::pair<std::uint64_t, Instant>> times_;
  crypto::Frontier tree_;
  std::vector<crypto::StoredNode> completed_;
  std::optional<crypto::Hash> integrated_root_;
};

Result<AuditVerifyReport> PgAuditLog::verify() const {
  std::lock_guard lk(read_mutex_);
  if (auto r = revive(rdb_); !r) return err(Errc::storage_failure);
  AuditVerifyReport report;
  Tx tx(rdb_);
  if (auto r = tx.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !r) {
    return err(Errc::storage_failure);
  }
  Verifier verifier(rdb_, *signer_, origin_, report);
  if (auto r = verifier.run(); !r) return err(Errc::storage_failure);
  if (auto r = tx.commit(); !r) return err(Errc::storage_failure);
  return report;
}

}  // namespace

Result<std::unique_ptr<audit::AuditLog>> open_pg_audit_log(PgAuditLogOptions options,
                                                           const crypto::RootKey& root) {
  auto log = std::make_unique<PgAuditLog>();
  if (auto r = log->open(std::move(options), root); !r) return r.error();
  return std::unique_ptr<audit::AuditLog>(std::move(log));
}

// --- carrying a SQLCipher log in (sluisctl store migrate) ---

namespace {

const std::string kSequenceForUpdate = "SELECT next FROM audit_sequence WHERE id = 1 FOR UPDATE";
const std::string kMoveSequence = "UPDATE audit_sequence SET next = $1 WHERE id = 1 AND next = $2";
constexpr std::string_view kEventColumns =
    "INSERT INTO audit_event(leaf, time_ms, partner, worker, action, client, decision, "
    "owner_partner, canonical)";
constexpr std::string_view kNodeColumns = "INSERT INTO audit_merkle_node(level, idx, hash)";

bool same_checkpoint(const StoredCheckpoint& a, const StoredCheckpoint& b) {
  return a.size == b.size && a.issued == b.issued && a.note == b.note;
}

/// "<head> VALUES($1, ...), (...)": `rows` rows of `columns` parameters.
std::string multi_row_insert(std::string_view head, std::size_t columns, std::size_t rows) {
  std::string sql(head);
  sql += " VALUES";
  std::size_t n = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    sql += r == 0 ? "(" : ", (";
    for (std::size_t c = 0; c < columns; ++c)
      sql.append(c == 0 ? "$" : ", $").append(std::to_string(++n));
    sql += ")";
  }
  return sql;
}

/// Inserts `count` rows, the parameters of row i bound by `bind(params, i)`, in statements of
/// 256, 128, ..., 1 rows (the binary digits of what is left): a handful of round trips per
/// batch, and at most nine statement texts for the connection to prepare.
template <class Bind>
Result<void> insert_rows(pg::Conn& c, std::string_view head, std::size_t columns, std::size_t count,
                         const Bind& bind) {
  std::size_t done = 0;
  for (std::size_t rows = 256; rows > 0; rows /= 2) {
    while (count - done >= rows) {
      pg::Params p;
      for (std::size_t i = done; i < done + rows; ++i)
        bind(p, i);
      if (auto r = c.run(multi_row_insert(head, columns, rows), p); !r) return r;
      done += rows;
    }
  }
  return {};
}

}  // namespace

struct AuditLogImport::State {
  const audit::AuditLog* source = nullptr;
  AuditImportOptions options;
  std::optional<crypto::SecretBuffer> password;
  std::optional<crypto::SigningKey> signer;
  pg::Conn c;
  AuditImportTarget target;
  std::uint64_t total = 0;  ///< the source's events
  crypto::Frontier frontier;
  /// The source's checkpoints not yet in the database, oldest first (a page of them), and where
  /// the next page starts.
  std::vector<StoredCheckpoint> pending;
  std::size_t next_pending = 0;
  std::uint64_t pending_from = 0;
  bool pending_done = false;

  [[nodiscard]] Instant now() const {
    return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  }

  /// The next source checkpoint not yet carried, if any (paging the source's).
  Result<const StoredCheckpoint*> next_checkpoint() {
    if (next_pending < pending.size()) return &pending[next_pending];
    if (pending_done) return static_cast<const StoredCheckpoint*>(nullptr);
    constexpr std::size_t kPage = 1000;
    auto page = source->checkpoints(pending_from, kPage);
    if (!page) return page.error();
    pending = std::move(*page);
    next_pending = 0;
    pending_done = pending.size() < kPage;
    if (pending.empty()) return static_cast<const StoredCheckpoint*>(nullptr);
    pending_from = pending.back().size + 1;
    return &pending[0];
  }

  /// Looks at the database's log (one snapshot): its origin, and whether its events, tree and
  /// checkpoints are the source's first ones. Leaves `frontier` at the database's tree and the
  /// pending checkpoints after the ones it holds.
  Result<void> inspect() {
    Tx tx(c);
    if (auto r = tx.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !r) return r;
    auto origin = c.query(kSelectMeta, pg::Params().text("origin"));
    if (!origin) return origin.error();
    if (!origin->empty()) target.origin = origin->text(0, 0);
    auto schema = c.query(kSelectMeta, pg::Params().text("schema"));
    if (!schema) return schema.error();
    if (!schema->empty() && schema->text(0, 0) != kAuditSchemaVersion) {
      return err(Errc::schema_too_new);
    }
    auto row = read_tree(c, kTree);
    auto sequenced = c.query(kSequenced);
    if (!sequenced) return sequenced.error();
    auto count = c.query(kCountEvents);
    if (!count) return count.error();
    const auto next = sequenced->empty() ? 0 : static_cast<std::uint64_t>(sequenced->int64(0, 0));
    const auto stored = static_cast<std::uint64_t>(count->int64(0, 0));
    target.events = std::max(next, stored);
    using Kind = AuditImportTarget::Kind;
    if (!target.origin.empty() && target.origin != source->origin()) {
      target.kind = Kind::other_origin;
      return tx.commit();
    }
    target.kind = Kind::other_events;
    if (!row) {
      if (row.error() != Errc::audit_log_inconsistent) return row.error();
      return tx.commit();
    }
    target.events = std::max(target.events, row->size);
    // Every event integrated, none beyond the tree, no stray nodes: what an import leaves.
    if (next != row->size || stored != row->size || row->size > total) return tx.commit();
    auto orphans = c.query(kOrphanLeaves, pg::Params().int64(to_db(row->size)));
    if (!orphans) return orphans.error();
    if (orphans->int64(0, 0) != 0) return tx.commit();
    auto f = frontier_of(c, *row);
    if (!f) {
      // A node row missing leaves the snapshot usable; a lost connection or a failed statement
      // does not, and is not the database's log being another one.
      if (auto alive = c.query("SELECT 1"); !alive) return alive.error();
      return tx.commit();
    }
    // The same root at that size: the same events in the same order (RFC 9162 §2.1.1).
    if (row->size > 0) {
      auto root = source->root_at(row->size);
      if (!root) return root.error();
      if (*root != row->root) return tx.commit();
    }
    // The checkpoints: the source's first ones, byte for byte, none past the tree.
    auto held = c.query(kCheckpointsFrom,
                        pg::Params().int64(0).int64(std::numeric_limits<std::int64_t>::max()));
    if (!held) return held.error();
    for (int i = 0; i < held->size(); ++i) {
      const auto cp = checkpoint_of(*held, i);
      auto mine = next_checkpoint();
      if (!mine) return mine.error();
      if (*mine == nullptr || cp.size > row->size || !same_checkpoint(cp, **mine)) {
        return tx.commit();
      }
      ++next_pending;
    }
    auto after = next_checkpoint();
    if (!after) return after.error();
    if (*after != nullptr && (*after)->size < row->size) return tx.commit();  // one left out
    frontier = std::move(*f);
    target.kind = Kind::prefix;
    return tx.commit();
  }

  /// Stores every pending checkpoint of the tree's current size, each checked first: signed by
  /// the log's key for the origin, naming this size and the copied tree's root.
  Result<void> carry_checkpoints() {
    for (;;) {
      auto cp = next_checkpoint();
      if (!cp) return cp.error();
      if (*cp == nullptr || (*cp)->size > frontier.size()) return {};
      if ((*cp)->size < frontier.size()) return err(Errc::audit_log_inconsistent);
      const auto& origin = source->origin();
      auto parsed = crypto::verify_checkpoint((*cp)->note, signer->verifying_key(), origin, origin);
      if (!parsed || parsed->size != (*cp)->size || parsed->root != frontier.root()) {
        return err(Errc::audit_log_inconsistent);
      }
      if (auto r = c.run(kInsertCheckpoint, pg::Params()
                                                .int64(to_db((*cp)->size))
                                                .int64((*cp)->issued.time_since_epoch().count())
                                                .text((*cp)->note));
          !r) {
        return r;
      }
      ++next_pending;
    }
  }

  /// One batch: the next events from the source with their nodes, the checkpoints they reach,
  /// the tree and sequence rows moved from `frontier.size()`. Returns the events copied.
  Result<std::uint64_t> batch() {
    const std::uint64_t from = frontier.size();
    audit::AuditQuery q;
    q.cursor = from;
    q.limit = std::clamp<std::size_t>(options.batch_events, 1, audit::kMaxAuditPage);
    auto page = source->query(q);
    if (!page) return page.error();
    Tx tx(c);
    if (auto r = tx.begin(); !r) return r.error();
    // The guards: both rows locked and where this import left them.
    auto row = read_tree(c, kTreeForUpdate);
    if (!row) return row.error();
    auto next = c.query(kSequenceForUpdate);
    if (!next) return next.error();
    if (row->size != from || row->root != frontier.root() || next->empty() ||
        next->int64(0, 0) != to_db(from)) {
      return err(Errc::conflict);
    }
    for (const char* name : {"schema", "origin"}) {
      const std::string value =
          std::string_view(name) == "schema" ? std::string(kAuditSchemaVersion) : source->origin();
      if (auto r = c.run(kInsertMeta, pg::Params().text(name).text(value)); !r) return r.error();
    }
    // What a failed batch gives back: the frontier, and the checkpoints it carried (read again
    // from the first of them).
    const crypto::Frontier saved = frontier;
    auto first_pending = next_checkpoint();
    if (!first_pending) return first_pending.error();
    const std::optional<std::uint64_t> restart =
        *first_pending == nullptr ? std::nullopt : std::optional((*first_pending)->size);
    auto undo = [&](error_code e) -> Result<std::uint64_t> {
      frontier = saved;
      if (restart) {
        pending.clear();
        next_pending = 0;
        pending_done = false;
        pending_from = *restart;
      }
      return e;
    };
    if (auto r = carry_checkpoints(); !r) return undo(r.error());
    std::vector<crypto::StoredNode> nodes;
    std::size_t events = 0;
    for (const auto& e : page->events) {
      if (e.leaf != frontier.size() || e.leaf >= total) break;  // past what open() counted
      frontier.append(crypto::leaf_hash(e.canonical), nodes);
      ++events;
      if (auto r = carry_checkpoints(); !r) return undo(r.error());
    }
    // The rows, as the sequencer (audit_event) and the integrator (audit_merkle_node) write them.
    const auto& stored = page->events;
    auto event_rows = insert_rows(c, kEventColumns, 9, events, [&](pg::Params& p, std::size_t i) {
      const AuditEvent& e = stored[i].event;
      p.int64(to_db(stored[i].leaf))
          .int64(e.time.time_since_epoch().count())
          .text(e.partner)
          .text(e.worker)
          .text(audit::to_string(e.action))
          .text(e.client)
          .text(audit::to_string(e.decision))
          .text(e.owner_partner)
          .bytes(as_bytes(stored[i].canonical));
    });
    if (!event_rows) return undo(event_rows.error());
    auto node_rows =
        insert_rows(c, kNodeColumns, 3, nodes.size(), [&](pg::Params& p, std::size_t i) {
          p.int64(std::int64_t{nodes[i].id.level})
              .int64(to_db(nodes[i].id.index))
              .bytes(std::span<const std::uint8_t>(nodes[i].hash));
        });
    if (!node_rows) return undo(node_rows.error());
    const std::uint64_t copied = frontier.size() - from;
    // A source that stops short of the size it had (an event missing) is not copied over.
    if (copied == 0 && from < total) return undo(err(Errc::audit_log_inconsistent));
    if (copied > 0) {
      auto moved = c.query(kAdvanceTree, pg::Params()
                                             .int64(to_db(frontier.size()))
                                             .bytes(std::span<const std::uint8_t>(frontier.root()))
                                             .int64(now().time_since_epoch().count())
                                             .int64(to_db(from)));
      if (!moved) return undo(moved.error());
      auto sequence =
          c.query(kMoveSequence, pg::Params().int64(to_db(frontier.size())).int64(to_db(from)));
      if (!sequence) return undo(sequence.error());
      if (moved->affected() != 1 || sequence->affected() != 1) return undo(err(Errc::conflict));
    }
    if (options.inject_failure && options.inject_failure("import.batch")) {
      return undo(err(Errc::injected_failure));
    }
    if (auto r = tx.commit(); !r) return undo(r.error());
    return copied;
  }
};

AuditLogImport::AuditLogImport(std::unique_ptr<State> state) : s_(std::move(state)) {}
AuditLogImport::~AuditLogImport() = default;

Result<std::unique_ptr<AuditLogImport>> AuditLogImport::open(const audit::AuditLog& source,
                                                             AuditImportOptions options,
                                                             const crypto::RootKey& root) {
  auto s = std::make_unique<State>();
  s->source = &source;
  s->options = std::move(options);
  s->total = source.size();
  if (s->options.database.conninfo.empty()) return err(Errc::invalid_argument);
  if (!s->options.database.password_file.empty()) {
    auto pw = pg::read_password_file(s->options.database.password_file);
    if (!pw) return pw.error();
    s->password.emplace(std::move(*pw));
  }
  s->signer = crypto::SigningKey::from_subkey(
      crypto::derive_subkey(root, crypto::KeyPurpose::audit_signing));
  if (auto r = pg::connect_node(s->c, s->options.database, s->password ? &*s->password : nullptr);
      !r) {
    return r.error();
  }
  if (auto r = s->c.exec("SET synchronous_commit = on"); !r) return r.error();
  // Held for the import's life (a session lock): no node integrates while the tree is copied.
  auto got = s->c.query(kTryLock, pg::Params().int64(kIntegratorLock));
  if (!got) return got.error();
  if (got->empty() || !got->boolean(0, 0)) return err(Errc::busy);
  if (auto r = s->inspect(); !r) return r.error();
  return std::unique_ptr<AuditLogImport>(new AuditLogImport(std::move(s)));
}

const AuditImportTarget& AuditLogImport::target() const noexcept {
  return s_->target;
}

Result<void>
AuditLogImport::copy(const std::function<void(const pgstore::MigrationProgress&)>& on_progress) {
  if (s_->target.kind != AuditImportTarget::Kind::prefix) return err(Errc::conflict);
  const std::uint64_t earlier = s_->target.events;
  auto report = [&] {
    if (on_progress) on_progress({"audit_event", s_->frontier.size(), s_->total, earlier});
  };
  report();
  // An empty source still leaves the log's schema and origin in the database (one batch), so
  // that the database's log is this one and opens as such.
  bool named = !s_->target.origin.empty();
  for (;;) {
    auto pending = s_->next_checkpoint();
    if (!pending) return pending.error();
    const bool checkpoints_left = *pending != nullptr && (*pending)->size <= s_->total;
    if (s_->frontier.size() >= s_->total && !checkpoints_left && named) break;
    auto n = s_->batch();
    if (!n) return n.error();
    named = true;
    report();
    if (*n == 0 && s_->frontier.size() >= s_->total) break;
  }
  // A checkpoint past the source's events: the source is not whole.
  auto left = s_->next_checkpoint();
  if (!left) return left.error();
  if (*left != nullptr) return err(Errc::audit_log_inconsistent);
  s_->target.events = s_->frontier.size();
  return {};
}

}  // namespace sluis::pgaudit
