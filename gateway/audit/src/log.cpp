// The audit log store: group commit, persisted Merkle tree, checkpoints, proofs, queries, verify.
//
// Tree persistence follows docs/crypto/audit-crypto.md §3: every perfect subtree a leaf completes
// is inserted in the same transaction as the event row, so events, nodes and the checkpoint that
// covers them become durable together (one fsync per batch: WAL with synchronous=FULL).
#include "sluis/audit/log.hpp"

#include "sluis/audit/group_commit.hpp"
#include "sluis/policy/types.hpp"
#include "sluis/store/sqlcipher_pages.hpp"
#include "sluis/store/sqlite.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace sluis::audit {

namespace sql = store::sql;
namespace {

constexpr int kAuditSchemaVersion = 1;

constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) "
    "WITHOUT ROWID",
    // leaf = the event's leaf index; canonical = the bytes the leaf hash is computed over. The
    // other columns are an index for queries; verify checks they agree with the bytes.
    "CREATE TABLE IF NOT EXISTS audit_event ("
    " leaf INTEGER PRIMARY KEY,"
    " time_ms INTEGER NOT NULL,"
    " partner TEXT NOT NULL,"
    " worker TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " client TEXT NOT NULL,"
    " decision TEXT NOT NULL,"
    " owner_partner TEXT NOT NULL,"
    " canonical BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS audit_event_client ON audit_event (client)",
    "CREATE INDEX IF NOT EXISTS audit_event_partner ON audit_event (partner)",
    "CREATE INDEX IF NOT EXISTS audit_event_owner ON audit_event (owner_partner)",
    "CREATE TABLE IF NOT EXISTS merkle_node ("
    " level INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " hash BLOB NOT NULL CHECK (length(hash) = 32),"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS audit_checkpoint ("
    " size INTEGER PRIMARY KEY,"
    " issued_ms INTEGER NOT NULL,"
    " note TEXT NOT NULL)",
};

constexpr const char* kInsertEvent =
    "INSERT INTO audit_event (leaf, time_ms, partner, worker, action, client, decision, "
    "owner_partner, canonical) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr const char* kInsertNode =
    "INSERT INTO merkle_node (level, idx, hash) VALUES (?1, ?2, ?3)";
constexpr const char* kInsertCheckpoint =
    "INSERT INTO audit_checkpoint (size, issued_ms, note) VALUES (?1, ?2, ?3)";
constexpr const char* kSelectNode = "SELECT hash FROM merkle_node WHERE level = ?1 AND idx = ?2";
// Two statements on purpose: alone, count(*) counts the entries of the smallest index (a few
// bytes each) without decoding a row, and max(leaf) is one descent of the table's b-tree; asked
// together they scan every row of the table, canonical bytes and all.
constexpr const char* kCountEvents = "SELECT count(*) FROM audit_event";
constexpr const char* kLastLeaf = "SELECT coalesce(max(leaf), -1) FROM audit_event";
constexpr const char* kLatestCheckpoint =
    "SELECT size, issued_ms, note FROM audit_checkpoint ORDER BY size DESC LIMIT 1";
constexpr const char* kCheckpointsFrom =
    "SELECT size, issued_ms, note FROM audit_checkpoint WHERE size >= ?1 ORDER BY size LIMIT ?2";
constexpr const char* kSelectMeta = "SELECT value FROM audit_meta WHERE name = ?1";
constexpr const char* kInsertMeta =
    "INSERT OR IGNORE INTO audit_meta (name, value) VALUES (?1, ?2)";
constexpr const char* kSelectEvent = "SELECT canonical FROM audit_event WHERE leaf = ?1";
constexpr const char* kVerifyEvents =
    "SELECT e.leaf, e.time_ms, e.partner, e.worker, e.action, e.client, e.decision, "
    "e.owner_partner, e.canonical, n.hash FROM audit_event e "
    "LEFT JOIN merkle_node n ON n.level = 0 AND n.idx = e.leaf ORDER BY e.leaf";
constexpr const char* kOrphanLeaves =
    "SELECT count(*) FROM merkle_node WHERE level = 0 AND idx >= ?1";

// Query variants: one per driving index, the other filters as "?n IS NULL OR ...". Parameters:
// ?1 cursor, ?2 client, ?3 partner, ?4 worker, ?5 action, ?6 decision, ?7 from, ?8 until,
// ?9 scope partner, ?10 limit.
#define SLUIS_AUDIT_FILTERS                                                                        \
  " AND leaf >= ?1 AND (?2 IS NULL OR client = ?2) AND (?3 IS NULL OR partner = ?3)"               \
  " AND (?4 IS NULL OR worker = ?4) AND (?5 IS NULL OR action = ?5)"                               \
  " AND (?6 IS NULL OR decision = ?6) AND time_ms >= ?7 AND time_ms < ?8"                          \
  " AND (?9 IS NULL OR partner = ?9 OR owner_partner = ?9) ORDER BY leaf LIMIT ?10"
constexpr const char* kQueryByClient =
    "SELECT leaf, canonical FROM audit_event WHERE client = ?2" SLUIS_AUDIT_FILTERS;
constexpr const char* kQueryByScope = "SELECT leaf, canonical FROM audit_event WHERE (partner = ?9 "
                                      "OR owner_partner = ?9)" SLUIS_AUDIT_FILTERS;
constexpr const char* kQueryByPartner =
    "SELECT leaf, canonical FROM audit_event WHERE partner = ?3" SLUIS_AUDIT_FILTERS;
constexpr const char* kQueryAll =
    "SELECT leaf, canonical FROM audit_event WHERE 1" SLUIS_AUDIT_FILTERS;
#undef SLUIS_AUDIT_FILTERS

using boost::system::error_code;

error_code err(Errc e) {
  return make_error_code(e);
}

std::int64_t to_db(std::uint64_t v) {
  return static_cast<std::int64_t>(v);
}

std::string_view as_text(std::span<const std::uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
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

/// One caller's pending append (or checkpoint request), owned by the caller while it waits.
struct Request : GroupCommitRequest {
  std::span<const AuditEvent> events;
  bool force_checkpoint = false;
  error_code error;
  LeafRange range;
  std::string note;
};

/// A read transaction on one connection, so a multi-statement read sees one snapshot.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(sql::Db& db) : db_(db) { open_ = static_cast<bool>(db_.exec("BEGIN")); }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot() {
    if (open_) static_cast<void>(db_.exec("ROLLBACK"));  // read-only: nothing to keep
  }
  [[nodiscard]] bool ok() const noexcept { return open_; }

 private:
  sql::Db& db_;
  bool open_ = false;
};

}  // namespace

/// The writer's exclusive claim on the log: an flock on "<path>.lock", held while the log is open,
/// so that exactly one process (sluisd, or sluisctl while sluisd is stopped) ever appends. A second
/// writer would extend the file behind the first one's in-memory tree frontier.
class WriterLock {
 public:
  WriterLock() = default;
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  ~WriterLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }
  [[nodiscard]] Result<void> acquire(const std::filesystem::path& log_path) {
    const auto path = log_path.string() + ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return err(Errc::storage_failure);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      ::close(fd_);
      fd_ = -1;
      return err(e == EWOULDBLOCK ? Errc::in_use : Errc::storage_failure);
    }
    return {};
  }

 private:
  int fd_ = -1;
};

struct SqlCipherLogState final {
  AuditLogOptions options;
  std::optional<crypto::SubKey> file_key;  ///< the SQLCipher key (verify's page walk needs it)
  WriterLock writer_lock;
  std::string origin;
  std::optional<crypto::SigningKey> signer_slot;
  std::optional<crypto::NoteVerifierKey> verifier;
  [[nodiscard]] const crypto::SigningKey& signer() const { return *signer_slot; }

  // Writer state: touched only by the writer thread (and by open() before it starts).
  sql::Db wdb;
  crypto::Frontier frontier;
  std::uint64_t last_checkpoint_size = 0;
  bool have_checkpoint = false;
  std::chrono::steady_clock::time_point last_checkpoint_at{};
  std::vector<crypto::StoredNode> completed;

  // Queue between callers and the writer (made when the writer starts).
  std::optional<GroupCommitQueue<Request>> queue;
  std::thread writer;

  std::atomic<std::uint64_t> committed{0};
  mutable std::mutex latest_mutex;
  std::optional<StoredCheckpoint> latest;

  // Reads: their own connection, serialised among themselves.
  mutable std::mutex read_mutex;
  mutable sql::Db rdb;

  [[nodiscard]] Instant now() const {
    if (options.clock) return options.clock();
    return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  }
  [[nodiscard]] bool inject(std::string_view step) const {
    return options.inject_failure && options.inject_failure(step);
  }

  /// A node source over `db` (whose lock the caller holds). A missing row is an error, never a
  /// made-up hash.
  static crypto::NodeSource source_over(sql::Db& db) {
    return [&db](crypto::NodeId id) -> crypto::Result<crypto::Hash> {
      auto st = db.prepare(kSelectNode);
      if (!st) return crypto::make_error_code(crypto::Errc::io_error);
      st->bind(1, std::int64_t{id.level}).bind(2, to_db(id.index));
      auto row = st->step();
      if (!row || !*row) return crypto::make_error_code(crypto::Errc::io_error);
      const auto b = st->blob(0);
      if (b.size() != crypto::kHashSize) return crypto::make_error_code(crypto::Errc::io_error);
      crypto::Hash h{};
      std::copy(b.begin(), b.end(), h.begin());
      return h;
    };
  }

  static Result<std::optional<StoredCheckpoint>> read_latest(sql::Db& db) {
    auto st = db.prepare(kLatestCheckpoint);
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<StoredCheckpoint>{};
    StoredCheckpoint cp;
    cp.size = static_cast<std::uint64_t>(st->int64(0));
    cp.issued = Instant(std::chrono::milliseconds(st->int64(1)));
    cp.note = st->text(2);
    return std::optional<StoredCheckpoint>(std::move(cp));
  }

  Result<void> create_schema() {
    sql::Transaction tx(wdb);
    if (auto r = tx.begin(); !r) return r;
    for (const char* ddl : kSchema) {
      if (auto r = wdb.exec(ddl); !r) return r;
    }
    for (auto [name, value] :
         {std::pair<std::string_view, std::string>{"schema", std::to_string(kAuditSchemaVersion)},
          {"origin", options.origin}}) {
      if (value.empty()) continue;
      auto st = wdb.prepare(kInsertMeta);
      if (!st) return st.error();
      if (auto r = st->bind(1, name).bind(2, value).run(); !r) return r;
    }
    return tx.commit();
  }

  Result<std::string> meta(sql::Db& db, std::string_view name) {
    auto st = db.prepare(kSelectMeta);
    if (!st) return st.error();
    st->bind(1, name);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return err(Errc::not_found);
    return st->text(0);
  }

  /// Start-up: frontier from the stored nodes, checked against the latest signed checkpoint.
  Result<void> restore() {
    std::int64_t count = 0;
    std::int64_t max_leaf = -1;
    for (auto [sql, out] : {std::pair{kCountEvents, &count}, std::pair{kLastLeaf, &max_leaf}}) {
      auto st = wdb.prepare(sql);
      if (!st) return st.error();
      auto row = st->step();
      if (!row) return row.error();
      if (!*row) return err(Errc::audit_log_inconsistent);
      *out = st->int64(0);
    }
    if (count != max_leaf + 1) return err(Errc::audit_log_inconsistent);  // a hole: rows deleted
    const auto size = static_cast<std::uint64_t>(count);

    // A node that does not read is a tree that does not match, unless SQLCipher refused the
    // page it is on (then the file is damaged, and says so).
    const auto missing = [this] {
      return err(wdb.last_error_is_damage() ? Errc::file_damaged : Errc::audit_log_inconsistent);
    };
    const auto source = source_over(wdb);
    std::vector<crypto::Hash> nodes;
    for (const auto id : crypto::frontier_nodes(size)) {
      auto h = source(id);
      if (!h) return missing();
      nodes.push_back(*h);
    }
    auto f = crypto::Frontier::restore(size, nodes);
    if (!f) return err(Errc::audit_log_inconsistent);
    frontier = std::move(*f);

    auto cp = read_latest(wdb);
    if (!cp) return cp.error();
    if (*cp) {
      auto parsed =
          crypto::verify_checkpoint((*cp)->note, signer().verifying_key(), origin, origin);
      if (!parsed || parsed->size != (*cp)->size || parsed->size > size) {
        return err(Errc::audit_log_inconsistent);
      }
      auto root = crypto::root_at(parsed->size, source);
      if (!root) return missing();
      if (*root != parsed->root) return err(Errc::audit_log_inconsistent);
      have_checkpoint = true;
      last_checkpoint_size = parsed->size;
      std::lock_guard lk(latest_mutex);
      latest = **cp;
    }
    committed.store(size);
    return {};
  }

  /// Writes one batch in one transaction. On failure nothing of it is kept and the frontier is
  /// put back, so the next batch continues from the last durable state.
  void process(std::span<Request* const> batch, bool checkpoint_due) {
    bool force = false;
    std::size_t count = 0;
    for (const auto* r : batch) {
      force = force || r->force_checkpoint;
      count += r->canonical.size();
    }
    const bool grew = frontier.size() > last_checkpoint_size || !have_checkpoint;
    if (count == 0 && !force && !(checkpoint_due && grew)) return;

    const crypto::Frontier saved = frontier;
    const auto result = write_batch(batch, force, checkpoint_due);
    if (!result) {
      frontier = saved;
      last_checkpoint_at = std::chrono::steady_clock::now();  // a failing disk: retry later
      for (auto* r : batch)
        r->error = result.error();
      return;
    }
    committed.store(frontier.size(), std::memory_order_release);
    std::string note;
    {
      std::lock_guard lk(latest_mutex);
      if (latest) note = latest->note;
    }
    for (auto* r : batch) {
      if (r->force_checkpoint) r->note = note;
    }
  }

  Result<void> write_batch(std::span<Request* const> batch, bool force, bool checkpoint_due) {
    sql::Transaction tx(wdb);
    if (auto r = tx.begin(); !r) return r;
    if (inject("append.insert")) return err(Errc::injected_failure);
    for (auto* r : batch) {
      r->range.first = frontier.size();
      for (std::size_t i = 0; i < r->canonical.size(); ++i) {
        const AuditEvent& e = r->events[i];
        const std::string& bytes = r->canonical[i];
        const std::uint64_t leaf = frontier.size();
        auto st = wdb.prepare(kInsertEvent);
        if (!st) return st.error();
        st->bind(1, to_db(leaf))
            .bind(2, std::int64_t{e.time.time_since_epoch().count()})
            .bind(3, e.partner)
            .bind(4, e.worker)
            .bind(5, to_string(e.action))
            .bind(6, e.client)
            .bind(7, to_string(e.decision))
            .bind(8, e.owner_partner)
            .bind(9, as_bytes(bytes));
        if (auto run = st->run(); !run) return run;
        completed.clear();
        frontier.append(crypto::leaf_hash(bytes), completed);
        for (const auto& node : completed) {
          auto ins = wdb.prepare(kInsertNode);
          if (!ins) return ins.error();
          ins->bind(1, std::int64_t{node.id.level})
              .bind(2, to_db(node.id.index))
              .bind(3, std::span<const std::uint8_t>(node.hash));
          if (auto run = ins->run(); !run) return run;
        }
      }
      r->range.count = r->canonical.size();
    }
    const bool grew = frontier.size() > last_checkpoint_size || !have_checkpoint;
    std::optional<StoredCheckpoint> cp;
    if (grew &&
        (force || checkpoint_due ||
         std::chrono::steady_clock::now() - last_checkpoint_at >= options.checkpoint_interval)) {
      auto note =
          crypto::sign_checkpoint(origin, frontier.size(), frontier.root(), signer(), origin);
      if (!note) return err(Errc::storage_failure);
      cp = StoredCheckpoint{frontier.size(), now(), std::move(*note)};
      auto st = wdb.prepare(kInsertCheckpoint);
      if (!st) return st.error();
      st->bind(1, to_db(cp->size))
          .bind(2, std::int64_t{cp->issued.time_since_epoch().count()})
          .bind(3, cp->note);
      if (auto run = st->run(); !run) return run;
    }
    if (inject("append.commit")) return err(Errc::injected_failure);
    if (auto c = tx.commit(); !c) return c;
    if (cp) {
      have_checkpoint = true;
      last_checkpoint_size = cp->size;
      last_checkpoint_at = std::chrono::steady_clock::now();
      std::lock_guard lk(latest_mutex);
      latest = std::move(cp);
    }
    return {};
  }

  void writer_loop() {
    std::vector<Request*> batch;
    for (;;) {
      std::optional<GroupCommitQueue<Request>::Clock::time_point> deadline;
      if (frontier.size() > last_checkpoint_size) {
        deadline = last_checkpoint_at + options.checkpoint_interval;
      }
      const auto next = queue->next_batch(batch, deadline);
      if (next.stopped) break;
      process(batch, next.deadline_passed);
      queue->complete(batch);
    }
    // Clean shutdown: sign what is committed, so the next start has a checkpoint to check.
    Request final_request;
    final_request.force_checkpoint = frontier.size() > last_checkpoint_size;
    if (final_request.force_checkpoint) {
      Request* one[] = {&final_request};
      process(one, true);
    }
  }

  /// Hands a request to the writer and waits for its batch to be durable (or to fail).
  void submit(Request& request) {
    if (!queue || !queue->submit(request)) request.error = err(Errc::storage_failure);
  }
};

/// The SQLCipher engine of the audit log: one file, one writer process (WriterLock).
class SqlCipherAuditLog final : public AuditLog {
 public:
  explicit SqlCipherAuditLog(std::unique_ptr<SqlCipherLogState> impl) : impl_(std::move(impl)) {}
  ~SqlCipherAuditLog() override;
  SqlCipherAuditLog(const SqlCipherAuditLog&) = delete;
  SqlCipherAuditLog& operator=(const SqlCipherAuditLog&) = delete;

  [[nodiscard]] Result<LeafRange> append(std::span<const AuditEvent> events) override;
  [[nodiscard]] Result<std::string> checkpoint() override;
  [[nodiscard]] Result<StoredCheckpoint> latest_checkpoint() const override;
  [[nodiscard]] Result<std::vector<StoredCheckpoint>> checkpoints(std::uint64_t min_size,
                                                                  std::size_t limit) const override;
  [[nodiscard]] std::uint64_t size() const noexcept override;
  [[nodiscard]] const std::string& origin() const noexcept override;
  [[nodiscard]] const crypto::NoteVerifierKey& verifier_key() const noexcept override;
  [[nodiscard]] Result<InclusionProof> inclusion_proof(std::uint64_t index,
                                                       std::uint64_t size) const override;
  [[nodiscard]] Result<std::vector<crypto::Hash>>
  consistency_proof(std::uint64_t old_size, std::uint64_t new_size) const override;
  [[nodiscard]] Result<crypto::Hash> root_at(std::uint64_t size) const override;
  [[nodiscard]] Result<StoredEvent> event(std::uint64_t leaf) const override;
  [[nodiscard]] Result<AuditPage> query(const AuditQuery& query) const override;
  [[nodiscard]] Result<AuditVerifyReport> verify() const override;

 private:
  std::unique_ptr<SqlCipherLogState> impl_;
};

SqlCipherAuditLog::~SqlCipherAuditLog() {
  if (impl_->writer.joinable()) {
    impl_->queue->stop();
    impl_->writer.join();
  }
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(AuditLogOptions options,
                                                 const crypto::RootKey& root) {
  auto impl = std::make_unique<SqlCipherLogState>();
  impl->options = std::move(options);
  const auto& opt = impl->options;
  impl->signer_slot =
      crypto::SigningKey::from_subkey(crypto::derive_subkey(root, crypto::KeyPurpose::audit_signing));
  impl->file_key.emplace(crypto::derive_subkey(root, crypto::KeyPurpose::audit_store));
  const auto& key = *impl->file_key;
  // SQLite says "not a database" for a wrong key and for a damaged page 1 alike; a later page
  // that verifies with this key tells them apart.
  const auto opened = [&](Result<void> r) -> Result<void> {
    if (!r && r.error() == Errc::database_key_mismatch && sql::later_pages_verify(opt.path, key)) {
      return err(Errc::file_damaged);
    }
    return r;
  };

  if (opt.read_only) {
    std::error_code ec;
    if (!std::filesystem::exists(opt.path, ec)) return err(Errc::not_found);
  } else {
    if (auto r = impl->writer_lock.acquire(opt.path); !r) return r.error();
    if (auto r = opened(impl->wdb.open(opt.path, key, opt.busy_timeout)); !r) return r.error();
    if (auto r = impl->wdb.set_cache_size_kib(opt.page_cache_kib); !r) return r.error();
    // Checkpoint the WAL into the file every 8 192 pages (32 MiB) rather than SQLite's 1 000:
    // the pages every batch rewrites (the table's last page, index leaves, Merkle levels) are
    // then copied once per checkpoint instead of many times.
    if (auto r = impl->wdb.exec("PRAGMA wal_autocheckpoint = 8192"); !r) return r.error();
    if (auto r = impl->create_schema(); !r) return r.error();
  }
  if (auto r = opened(impl->rdb.open(opt.path, key, opt.busy_timeout)); !r) return r.error();

  auto schema = impl->meta(impl->rdb, "schema");
  if (!schema) {
    return schema.error() == err(Errc::not_found) ? err(Errc::database_key_mismatch)
                                                  : schema.error();
  }
  if (*schema != std::to_string(kAuditSchemaVersion)) return err(Errc::schema_too_new);
  auto stored_origin = impl->meta(impl->rdb, "origin");
  if (!stored_origin) return stored_origin.error();
  if (!opt.origin.empty() && opt.origin != *stored_origin) {
    return err(Errc::audit_log_inconsistent);
  }
  impl->origin = *stored_origin;
  auto verifier = crypto::make_verifier_key(impl->origin, impl->signer().verifying_key());
  if (!verifier) return err(Errc::invalid_argument);
  impl->verifier = std::move(*verifier);

  if (opt.read_only) {
    // Tools open damaged logs too: verify() then says where (a size of 0 and no checkpoint
    // until it has).
    auto st = impl->rdb.prepare(kCountEvents);
    if (!st) return st.error();
    auto row = st->step();
    if (!row && row.error() != Errc::file_damaged) return row.error();
    if (row) impl->committed.store(static_cast<std::uint64_t>(st->int64(0)));
    auto cp = SqlCipherLogState::read_latest(impl->rdb);
    if (!cp && cp.error() != Errc::file_damaged) return cp.error();
    if (cp) impl->latest = std::move(*cp);
  } else {
    if (auto r = impl->restore(); !r) return r.error();
    impl->queue.emplace(opt.group_commit_window, opt.max_batch_events);
    impl->writer = std::thread([p = impl.get()] { p->writer_loop(); });
  }
  return std::unique_ptr<AuditLog>(new SqlCipherAuditLog(std::move(impl)));
}

Result<LeafRange> SqlCipherAuditLog::append(std::span<const AuditEvent> events) {
  if (impl_->options.read_only) return err(Errc::not_permitted);
  if (events.empty()) return LeafRange{size(), 0};
  Request request;
  request.events = events;
  request.canonical.reserve(events.size());
  for (const auto& e : events) {
    auto bytes = encode_audit_event(e);  // on the caller's thread: the writer only writes
    if (!bytes) return bytes.error();
    request.canonical.push_back(std::move(*bytes));
  }
  impl_->submit(request);
  if (request.error) return request.error;
  return request.range;
}

Result<LeafRange> AuditLog::append(const AuditEvent& event) {
  return append(std::span<const AuditEvent>(&event, 1));
}

Result<std::string> SqlCipherAuditLog::checkpoint() {
  if (impl_->options.read_only) return err(Errc::not_permitted);
  Request request;
  request.force_checkpoint = true;
  impl_->submit(request);
  if (request.error) return request.error;
  if (request.note.empty()) return err(Errc::not_found);
  return request.note;
}

Result<StoredCheckpoint> SqlCipherAuditLog::latest_checkpoint() const {
  std::lock_guard lk(impl_->latest_mutex);
  if (!impl_->latest) return err(Errc::not_found);
  return *impl_->latest;
}

Result<std::vector<StoredCheckpoint>> SqlCipherAuditLog::checkpoints(std::uint64_t min_size,
                                                                     std::size_t limit) const {
  std::lock_guard lk(impl_->read_mutex);
  auto st = impl_->rdb.prepare(kCheckpointsFrom);
  if (!st) return st.error();
  st->bind(1, to_db(min_size))
      .bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, 1u << 30)));
  std::vector<StoredCheckpoint> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back({static_cast<std::uint64_t>(st->int64(0)),
                   Instant(std::chrono::milliseconds(st->int64(1))), st->text(2)});
  }
  return out;
}

std::uint64_t SqlCipherAuditLog::size() const noexcept {
  return impl_->committed.load(std::memory_order_acquire);
}

const std::string& SqlCipherAuditLog::origin() const noexcept {
  return impl_->origin;
}

const crypto::NoteVerifierKey& SqlCipherAuditLog::verifier_key() const noexcept {
  return *impl_->verifier;
}

Result<InclusionProof> SqlCipherAuditLog::inclusion_proof(std::uint64_t index,
                                                          std::uint64_t size) const {
  if (index >= size || size > this->size()) return err(Errc::invalid_argument);
  std::lock_guard lk(impl_->read_mutex);
  const auto source = SqlCipherLogState::source_over(impl_->rdb);
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

Result<std::vector<crypto::Hash>>
SqlCipherAuditLog::consistency_proof(std::uint64_t old_size, std::uint64_t new_size) const {
  if (old_size > new_size || new_size > size()) return err(Errc::invalid_argument);
  std::lock_guard lk(impl_->read_mutex);
  auto proof =
      crypto::consistency_proof(old_size, new_size, SqlCipherLogState::source_over(impl_->rdb));
  if (!proof) return err(Errc::storage_failure);
  return std::move(*proof);
}

Result<crypto::Hash> SqlCipherAuditLog::root_at(std::uint64_t size) const {
  if (size > this->size()) return err(Errc::invalid_argument);
  std::lock_guard lk(impl_->read_mutex);
  auto root = crypto::root_at(size, SqlCipherLogState::source_over(impl_->rdb));
  if (!root) return err(Errc::storage_failure);
  return *root;
}

Result<StoredEvent> SqlCipherAuditLog::event(std::uint64_t leaf) const {
  std::lock_guard lk(impl_->read_mutex);
  auto st = impl_->rdb.prepare(kSelectEvent);
  if (!st) return st.error();
  st->bind(1, to_db(leaf));
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return err(Errc::not_found);
  StoredEvent out;
  out.leaf = leaf;
  out.canonical = std::string(as_text(st->blob(0)));
  auto e = decode_audit_event(out.canonical);
  if (!e) return e.error();
  out.event = std::move(*e);
  return out;
}

Result<AuditPage> SqlCipherAuditLog::query(const AuditQuery& q) const {
  if (q.limit == 0 || q.limit > kMaxAuditPage) return err(Errc::invalid_argument);
  const char* sql = kQueryAll;
  if (q.client) {
    sql = kQueryByClient;
  } else if (q.scope_partner) {
    sql = kQueryByScope;
  } else if (q.partner) {
    sql = kQueryByPartner;
  }
  std::lock_guard lk(impl_->read_mutex);
  auto st = impl_->rdb.prepare(sql);
  if (!st) return st.error();
  auto opt = [&](int i, const std::optional<std::string>& v) {
    if (v) {
      st->bind(i, std::string_view(*v));
    } else {
      st->bind_null(i);
    }
  };
  st->bind(1, to_db(std::min<std::uint64_t>(q.cursor, std::numeric_limits<std::int64_t>::max())));
  opt(2, q.client);
  opt(3, q.partner);
  opt(4, q.worker);
  opt(5, q.action ? std::optional<std::string>(std::string(to_string(*q.action))) : std::nullopt);
  opt(6,
      q.decision ? std::optional<std::string>(std::string(to_string(*q.decision))) : std::nullopt);
  st->bind(7, q.from ? std::int64_t{q.from->time_since_epoch().count()}
                     : std::numeric_limits<std::int64_t>::min());
  st->bind(8, q.until ? std::int64_t{q.until->time_since_epoch().count()}
                      : std::numeric_limits<std::int64_t>::max());
  opt(9, q.scope_partner);
  st->bind(10, static_cast<std::int64_t>(q.limit + 1));
  AuditPage page;
  std::size_t rows = 0;
  for (;;) {
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) break;
    const auto leaf = static_cast<std::uint64_t>(st->int64(0));
    if (++rows > q.limit) {
      page.next = leaf;
      break;
    }
    StoredEvent se;
    se.leaf = leaf;
    se.canonical = std::string(as_text(st->blob(1)));
    auto e = decode_audit_event(se.canonical);
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

Result<std::vector<StoredEvent>> AuditLog::query_all(AuditQuery q) const {
  q.limit = kMaxAuditPage;
  std::vector<StoredEvent> out;
  for (;;) {
    auto page = query(q);
    if (!page) return page.error();
    for (auto& e : page->events)
      out.push_back(std::move(e));
    if (!page->next) return out;
    q.cursor = *page->next;
  }
}

namespace {

/// verify()'s checks of the records: events, stored tree and checkpoints, through SQLite.
Result<void> verify_records(const SqlCipherLogState& impl, sql::Db& db, AuditVerifyReport& report) {
  const auto source = SqlCipherLogState::source_over(db);

  std::vector<std::pair<std::uint64_t, Instant>> times;  // (leaf, time) of every row read
  auto time_of = [&](std::uint64_t leaf) -> std::optional<Instant> {
    auto it = std::lower_bound(times.begin(), times.end(), leaf,
                               [](const auto& p, std::uint64_t l) { return p.first < l; });
    if (it == times.end()) return std::nullopt;
    return it->second;
  };
  // Precise findings name one event (its bytes, index or columns); range findings come from a
  // checkpoint that no longer matches and only bound where the difference is. The first
  // difference is the earliest precise finding, or, when the tree rows were rebuilt too and
  // nothing precise remains, the earliest range.
  std::optional<AuditFinding> range_finding;
  auto note_problem = [&](std::uint64_t leaf, std::optional<Instant> t, const std::string& what) {
    std::string line = "event #" + std::to_string(leaf);
    if (t) line += " (" + when(*t) + ")";
    line += ": " + what;
    report.problems.push_back(std::move(line));
  };
  auto found = [&](std::uint64_t leaf, std::optional<Instant> t, std::string what) {
    note_problem(leaf, t, what);
    if (!report.first_difference || leaf < report.first_difference->leaf) {
      report.first_difference = AuditFinding{leaf, t, std::move(what)};
    }
  };
  auto found_range = [&](std::uint64_t leaf, std::optional<Instant> t, std::string what) {
    note_problem(leaf, t, what);
    if (!range_finding || leaf < range_finding->leaf) {
      range_finding = AuditFinding{leaf, t, std::move(what)};
    }
  };

  // Every stored checkpoint: signature by this log's key and origin, size as stored.
  struct Signed {
    std::uint64_t size;
    crypto::Hash root;
  };
  std::vector<Signed> signed_heads;
  {
    auto st = db.prepare(kCheckpointsFrom);
    if (!st) return st.error();
    st->bind(1, std::int64_t{0}).bind(2, std::numeric_limits<std::int64_t>::max());
    for (;;) {
      auto row = st->step();
      if (!row) return row.error();
      if (!*row) break;
      ++report.checkpoints;
      StoredCheckpoint cp{static_cast<std::uint64_t>(st->int64(0)),
                          Instant(std::chrono::milliseconds(st->int64(1))), st->text(2)};
      auto parsed = crypto::verify_checkpoint(cp.note, impl.signer().verifying_key(),
                                              impl.origin, impl.origin);
      if (!parsed) {
        report.problems.push_back("checkpoint at size " + std::to_string(cp.size) +
                                  ": its signature does not verify with the audit key (" +
                                  parsed.error().message() + ")");
      } else if (parsed->size != cp.size) {
        report.problems.push_back("checkpoint at size " + std::to_string(cp.size) +
                                  ": the signed note names size " + std::to_string(parsed->size));
      } else {
        signed_heads.push_back({parsed->size, parsed->root});
      }
      report.latest = std::move(cp);
    }
  }

  // Recompute the tree from the event bytes alone, comparing as we go.
  crypto::Frontier tree;
  std::vector<crypto::StoredNode> completed;
  std::size_t next_head = 0;
  std::uint64_t last_good_head = 0;
  std::optional<std::uint64_t> first_bad_leaf;
  auto check_heads = [&] {
    while (next_head < signed_heads.size() && signed_heads[next_head].size <= tree.size()) {
      const auto& head = signed_heads[next_head++];
      if (head.size != tree.size()) continue;  // passed over because rows were missing
      if (tree.root() == head.root) {
        last_good_head = head.size;
        continue;
      }
      report.problems.push_back("checkpoint at size " + std::to_string(head.size) +
                                " does not match the tree recomputed from the events");
      found_range(last_good_head, time_of(last_good_head),
                  "the events from #" + std::to_string(last_good_head) + " to #" +
                      std::to_string(head.size - 1) + " differ from what the checkpoint at size " +
                      std::to_string(head.size) + " signed");
    }
  };
  check_heads();  // a checkpoint of the empty tree
  {
    auto st = db.prepare(kVerifyEvents);
    if (!st) return st.error();
    for (;;) {
      auto row = st->step();
      if (!row) return row.error();
      if (!*row) break;
      ++report.events;
      const auto leaf = static_cast<std::uint64_t>(st->int64(0));
      const Instant t{std::chrono::milliseconds(st->int64(1))};
      times.emplace_back(leaf, t);
      const std::uint64_t expected = tree.size();
      if (leaf != expected) {
        found(expected, t,
              "missing: no event is stored at this index (deleted); the next stored event is #" +
                  std::to_string(leaf));
        first_bad_leaf = std::min(first_bad_leaf.value_or(expected), expected);
      }
      const std::string canonical(as_text(st->blob(8)));
      const auto h = crypto::leaf_hash(canonical);
      const auto stored = st->blob(9);
      if (stored.empty()) {
        // The tree row itself is gone: a damaged tree, located through the checkpoints.
        found_range(expected, t, "its leaf hash is missing from the stored tree");
        first_bad_leaf = std::min(first_bad_leaf.value_or(expected), expected);
      } else if (stored.size() != crypto::kHashSize ||
                 !std::equal(h.begin(), h.end(), stored.begin())) {
        found(expected, t,
              "its bytes do not match the leaf hash recorded in the tree (changed, moved or "
              "reordered)");
        first_bad_leaf = std::min(first_bad_leaf.value_or(expected), expected);
      }
      auto decoded = decode_audit_event(canonical);
      if (!decoded) {
        found(expected, t, "its stored bytes are not a canonical audit event");
      } else {
        const auto& e = *decoded;
        if (e.time != t || e.partner != st->text(2) || e.worker != st->text(3) ||
            to_string(e.action) != st->text(4) || e.client != st->text(5) ||
            to_string(e.decision) != st->text(6) || e.owner_partner != st->text(7)) {
          found(expected, t, "its query columns differ from its signed bytes");
        }
      }
      completed.clear();
      tree.append(h, completed);
      for (const auto& node : completed) {
        if (node.id.level == 0) continue;
        if (first_bad_leaf && *first_bad_leaf >= node.id.first_leaf()) continue;  // a consequence
        auto hash = source(node.id);
        if (!hash || *hash != node.hash) {
          report.problems.push_back("tree node (level " + std::to_string(node.id.level) +
                                    ", index " + std::to_string(node.id.index) +
                                    ") is missing or differs from the recomputed tree");
        }
      }
      check_heads();
    }
  }
  report.root = tree.root();

  // Checkpoints beyond the events held: the newest events were deleted.
  for (; next_head < signed_heads.size(); ++next_head) {
    const auto& head = signed_heads[next_head];
    if (head.size > tree.size()) {
      report.problems.push_back("checkpoint at size " + std::to_string(head.size) +
                                " covers more events than the log holds (" +
                                std::to_string(tree.size()) + ")");
      found_range(tree.size(), std::nullopt,
                  "missing: the events from #" + std::to_string(tree.size()) + " to #" +
                      std::to_string(head.size - 1) + " were signed but are not stored (deleted)");
    }
  }
  {
    auto st = db.prepare(kOrphanLeaves);
    if (!st) return st.error();
    st->bind(1, to_db(tree.size()));
    auto row = st->step();
    if (!row) return row.error();
    if (st->int64(0) > 0) {
      found(tree.size(), std::nullopt,
            "missing: the tree holds leaf hashes for events that are not stored (deleted)");
    }
  }

  if (!report.first_difference) report.first_difference = std::move(range_finding);

  // Consecutive checkpoints must be consistent (RFC 9162 §2.1.4) through the stored tree too.
  for (std::size_t i = 1; i < signed_heads.size(); ++i) {
    const auto& a = signed_heads[i - 1];
    const auto& b = signed_heads[i];
    auto proof = crypto::consistency_proof(a.size, b.size, source);
    if (!proof || !crypto::verify_consistency(a.size, b.size, a.root, b.root, *proof)) {
      report.problems.push_back("checkpoints at sizes " + std::to_string(a.size) + " and " +
                                std::to_string(b.size) +
                                " are not proven consistent by the stored tree");
    }
  }
  // The stored tree's root must be the recomputed one.
  if (report.problems.empty()) {
    auto stored_root = crypto::root_at(tree.size(), source);
    if (!stored_root || *stored_root != tree.root()) {
      report.problems.push_back("the stored tree's root differs from the recomputed root");
    }
  }
  return {};
}

}  // namespace

namespace {

/// The b-trees sqlite_master lists (empty when the schema cannot be read: page 1 damaged).
std::vector<sql::TreeRoot> schema_trees(sql::Db& db) {
  std::vector<sql::TreeRoot> out;
  auto st = db.prepare("SELECT name, rootpage, type, coalesce(sql, '') FROM sqlite_master "
                       "WHERE rootpage > 0 ORDER BY rootpage");
  if (!st) return out;
  for (;;) {
    auto row = st->step();
    if (!row || !*row) break;
    const auto root = st->int64(1);
    if (root <= 0 || root > std::numeric_limits<std::uint32_t>::max()) continue;
    out.push_back({st->text(0), static_cast<std::uint32_t>(root),
                   st->text(2) == "table" &&
                       st->text(3).find("WITHOUT ROWID") == std::string::npos});
  }
  return out;
}

constexpr std::int64_t kNoLower = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kNoUpper = std::numeric_limits<std::int64_t>::max();

/// What a page held, in words, from the walk (for a damaged page: from its parent).
AuditFilePage describe_page(const sql::PageWalk& walk, std::uint32_t number) {
  const sql::PageRole& role = walk.pages[number - 1];
  AuditFilePage page;
  page.number = number;
  page.offset = std::uint64_t{number - 1} * sql::kPageSize;
  page.damaged = !role.authentic;
  const std::string tree =
      role.tree >= 0 ? walk.trees[static_cast<std::size_t>(role.tree)].name : std::string();
  const std::string level = role.kind == sql::PageKind::interior   ? " (an index page above them)"
                            : role.kind == sql::PageKind::overflow ? " (the overflow of a long one)"
                                                                   : "";
  auto range = [&](std::string_view what) {
    const std::int64_t lo = std::max<std::int64_t>(role.first_rowid, 0);
    std::string text = std::string(what) + " #" + std::to_string(lo);
    if (role.last_rowid == kNoUpper) {
      text += " and after (to the newest)";
    } else if (role.last_rowid != lo) {
      text += " to #" + std::to_string(role.last_rowid);
    }
    return text;
  };
  if (number == 1) {
    page.holds = "the file header and the list of tables (without it nothing in the file reads)";
  } else if (role.kind == sql::PageKind::not_checked) {
    page.holds = "SQLite's lock-byte page (never holds data)";
  } else if (role.kind == sql::PageKind::free) {
    page.holds = "free space (no data)";
  } else if (tree == "audit_event") {
    if (role.first_rowid != kNoLower || role.last_rowid != kNoUpper) {
      page.first_event = static_cast<std::uint64_t>(std::max<std::int64_t>(role.first_rowid, 0));
      if (role.last_rowid != kNoUpper) {
        page.last_event = static_cast<std::uint64_t>(std::max<std::int64_t>(role.last_rowid, 0));
      }
    }
    page.holds = range("events") + level;
  } else if (tree == "audit_checkpoint") {
    page.holds = "signed checkpoints, " + range("sizes") + level;
  } else if (tree == "merkle_node") {
    page.holds = "stored Merkle tree nodes (recomputable from the events)";
  } else if (tree == "audit_meta") {
    page.holds = "the log's identity (origin and schema version)";
  } else if (tree == "sqlite_master") {
    page.holds = "the list of tables";
  } else if (!tree.empty()) {
    page.holds = "the query index " + tree + " (rebuildable from the events)";
  } else {
    page.holds = "a page no intact page refers to (below a damaged page, or left over)";
  }
  return page;
}

Result<AuditFileCheck> walk_audit_file(const std::filesystem::path& path,
                                       const crypto::SubKey& key,
                                       std::span<const sql::TreeRoot> trees, bool with_map) {
  auto walk = sql::walk_pages(path, key, trees);
  if (!walk) return walk.error();
  AuditFileCheck check;
  check.pages = walk->pages.size();
  for (std::size_t n = 1; n <= walk->pages.size(); ++n) {
    const bool damaged = !walk->pages[n - 1].authentic;
    if (!damaged && !with_map) continue;
    auto page = describe_page(*walk, static_cast<std::uint32_t>(n));
    if (damaged) check.damaged.push_back(page);
    if (with_map) check.map.push_back(std::move(page));
  }
  return check;
}

std::string damage_sentence(const AuditFilePage& p) {
  return "page " + std::to_string(p.number) + " (bytes " + std::to_string(p.offset) + " to " +
         std::to_string(p.offset + sql::kPageSize - 1) +
         " of the file) fails its integrity check: the file is damaged or was altered there; "
         "it holds " +
         p.holds;
}

}  // namespace

Result<AuditFileCheck> check_audit_file(const std::filesystem::path& path,
                                        const crypto::RootKey& root, bool with_map) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return err(Errc::not_found);
  const auto key = crypto::derive_subkey(root, crypto::KeyPurpose::audit_store);
  std::vector<sql::TreeRoot> trees;
  {
    sql::Db db;
    if (db.open(path, key, std::chrono::milliseconds(1000))) trees = schema_trees(db);
  }
  return walk_audit_file(path, key, trees, with_map);
}

Result<AuditVerifyReport> SqlCipherAuditLog::verify() const {
  std::lock_guard lk(impl_->read_mutex);
  sql::Db& db = impl_->rdb;
  AuditVerifyReport report;
  // Pages first: SQLite stops at the first damaged page a statement meets, without saying which.
  const auto trees = schema_trees(db);
  auto pages = walk_audit_file(impl_->options.path, *impl_->file_key, trees, false);
  if (!pages) return pages.error();
  report.pages = pages->pages;
  report.damaged_pages = std::move(pages->damaged);
  for (const auto& p : report.damaged_pages)
    report.problems.push_back(damage_sentence(p));

  Result<void> records = err(Errc::storage_failure);
  {
    ReadSnapshot snapshot(db);
    if (!snapshot.ok()) return err(Errc::storage_failure);
    records = verify_records(*impl_, db, report);
  }
  if (!records) {
    if (records.error() != Errc::file_damaged && report.damaged_pages.empty()) {
      return records.error();
    }
    report.problems.push_back(
        "the checks of the events, the stored tree and the checkpoints stopped at a damaged "
        "page (SQLCipher refuses to read it); what they found before it is listed above");
  }
  // An event on a damaged page is the first one that differs unless an earlier one does.
  for (const auto& p : report.damaged_pages) {
    if (!p.first_event) continue;
    if (!report.first_difference || *p.first_event < report.first_difference->leaf) {
      report.first_difference =
          AuditFinding{*p.first_event, std::nullopt,
                       "it is stored on page " + std::to_string(p.number) +
                           ", which fails its integrity check (damaged or altered)"};
    }
    break;
  }
  return report;
}

}  // namespace sluis::audit
