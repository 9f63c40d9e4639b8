// The KEKs outside the database (the ring file) and the erasures outside it (the ledger): loading
// and checking the ring at open, re-applying the ledger, KEK rotation and destruction
// (docs/store.md "The KEK ring and the erasure ledger").
#include "key_files.hpp"
#include "pg_impl.hpp"
#include "sluis/crypto/key_ring.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace sluis::pgstore {

namespace {

using crypto::KekVersion;

/// One rotation or destruction at a time, across nodes and sluisctl ("sluis" in ASCII, then 4).
constexpr const char* kKekLock = "SELECT pg_advisory_lock(x'736c756973000004'::bigint)";
constexpr const char* kKekUnlock = "SELECT pg_advisory_unlock(x'736c756973000004'::bigint)";

Result<void> refuse(std::string* why, std::string sentence, Errc e) {
  if (why != nullptr) *why = std::move(sentence);
  return make_error_code(e);
}

/// A version as a sentence names it.
std::string named(KekVersion v) {
  return "KEK version " + std::to_string(v.value);
}

/// The ring file's entries unwrapped; `why` names the version that does not open.
Result<crypto::KeyRing> unwrap_entries(const crypto::SubKey& wrapping,
                                       const std::vector<RingEntry>& entries,
                                       const std::filesystem::path& path, std::string* why) {
  crypto::KeyRing ring;
  for (const auto& e : entries) {
    auto kek = crypto::unwrap_kek(wrapping, e.wrapped);
    if (!kek) {
      return refuse(why,
                    "the KEK ring file " + path.string() + " does not open with this root key (" +
                        named(e.wrapped.version) +
                        "): it belongs to another gateway, or the line was altered",
                    Errc::crypto_failure)
          .error();
    }
    ring.add(std::move(*kek));
  }
  return ring;
}

struct Registered {
  crypto::KekFingerprint fingerprint{};
  bool destroyed = false;
};

/// Every version the database registered.
Result<std::map<std::uint32_t, Registered>> registered_versions(pg::Conn& c) {
  auto rows = c.query("SELECT version, fingerprint, destroyed_at IS NOT NULL FROM kek_versions");
  if (!rows) return rows.error();
  std::map<std::uint32_t, Registered> out;
  for (int r = 0; r < rows->size(); ++r) {
    Registered reg;
    const auto fp = rows->bytes(r, 1);
    if (fp.size() != reg.fingerprint.size()) return make_error_code(Errc::storage_failure);
    std::copy(fp.begin(), fp.end(), reg.fingerprint.begin());
    reg.destroyed = rows->boolean(r, 2);
    out.emplace(static_cast<std::uint32_t>(rows->int64(r, 0)), reg);
  }
  return out;
}

Result<void> register_version(pg::Conn& c, const crypto::KeyEncryptionKey& kek, std::int64_t at,
                              bool* inserted) {
  const auto fp = crypto::kek_fingerprint(kek);
  auto rows = c.query(
      "INSERT INTO kek_versions(version, fingerprint, created_at) "
      "VALUES($1, $2, $3) ON CONFLICT (version) DO NOTHING",
      pg::Params().int64(kek.version.value).bytes(std::span<const std::uint8_t>(fp)).int64(at));
  if (!rows) return rows.error();
  if (inserted != nullptr) *inserted = rows->affected() == 1;
  return {};
}

/// The session-level KEK lock, released when this goes.
class KekLock {
 public:
  explicit KekLock(pg::Conn& c) : c_(c) {}
  [[nodiscard]] Result<void> take() {
    if (auto r = c_.query(kKekLock); !r) return r.error();
    held_ = true;
    return {};
  }
  ~KekLock() {
    if (held_) static_cast<void>(c_.query(kKekUnlock));
  }
  KekLock(const KekLock&) = delete;
  KekLock& operator=(const KekLock&) = delete;

 private:
  pg::Conn& c_;
  bool held_ = false;
};

}  // namespace

std::shared_ptr<const crypto::KeyRing> PgStorage::Impl::ring_now() const {
  std::lock_guard lock(ring_mutex);
  return ring ? ring : std::make_shared<const crypto::KeyRing>();
}

Result<void> PgStorage::Impl::reload_ring(std::string* why) {
  const std::string stamp = ring_file_stamp(options.kek_ring_file);
  auto file = read_ring_file(options.kek_ring_file, why);
  if (!file) return file.error();
  auto fresh = unwrap_entries(kek_wrapping_key, file->entries, options.kek_ring_file, why);
  if (!fresh) return fresh.error();
  std::lock_guard lock(ring_mutex);
  ring = std::make_shared<const crypto::KeyRing>(std::move(*fresh));
  ring_stamp = stamp;
  return {};
}

void PgStorage::Impl::reload_ring_if_changed() noexcept {
  if (schema_version < kRingFileSchema) return;
  const std::string stamp = ring_file_stamp(options.kek_ring_file);
  {
    std::lock_guard lock(ring_mutex);
    if (stamp == ring_stamp || stamp.empty()) return;
  }
  // A damaged or foreign file is not taken: the ring in memory stays until an open says why.
  static_cast<void>(reload_ring(nullptr));
}

Result<const crypto::KeyEncryptionKey*>
PgStorage::Impl::kek_for(KekVersion version, std::shared_ptr<const crypto::KeyRing>& hold) {
  hold = ring_now();
  if (auto kek = hold->find(version)) return *kek;
  if (schema_version >= kRingFileSchema && reload_ring(nullptr)) {
    hold = ring_now();
    if (auto kek = hold->find(version)) return *kek;
  }
  return make_error_code(Errc::key_unavailable);
}

Result<KekVersion> PgStorage::Impl::current_kek_version(pg::Conn& c) {
  if (schema_version < kRingFileSchema) {
    auto kek = ring_now()->current();
    if (!kek) return make_error_code(Errc::key_unavailable);
    return (*kek)->version;
  }
  auto rows = c.query("SELECT max(version) FROM kek_versions WHERE destroyed_at IS NULL");
  if (!rows) return rows.error();
  if (rows->empty() || rows->is_null(0, 0)) return make_error_code(Errc::key_unavailable);
  return KekVersion{static_cast<std::uint32_t>(rows->int64(0, 0))};
}

namespace {

/// The ring file's entry of version `v` (end() when none).
std::vector<RingEntry>::iterator entry_of(std::vector<RingEntry>& entries, KekVersion v) {
  return std::find_if(entries.begin(), entries.end(),
                      [&](const RingEntry& e) { return e.wrapped.version == v; });
}

/// Open, phase 1: the keks table's KEKs (a database from before schema 7, or a home migration's
/// copy) join `entries`; returned unwrapped, to be registered. With `replace_unused`, a ring
/// version no data key uses gives way to the table's KEK of the same version (and its
/// registration goes); otherwise a different KEK under a version the ring holds is refused.
Result<std::vector<crypto::KeyEncryptionKey>>
absorb_keks_table(pg::Conn& c, const crypto::SubKey& wrapping, const crypto::KeyRing& ring_keks,
                  std::vector<RingEntry>& entries, bool replace_unused,
                  const std::filesystem::path& path, std::string* why) {
  auto keks = c.query("SELECT version, wrapped, created_at FROM keks "
                      "WHERE retired_at IS NULL AND length(wrapped) > 0 ORDER BY version");
  if (!keks) return keks.error();
  std::vector<crypto::KeyEncryptionKey> absorbed;
  for (int r = 0; r < keks->size(); ++r) {
    const KekVersion v{static_cast<std::uint32_t>(keks->int64(r, 0))};
    crypto::WrappedKek wrapped{v, keks->byte_vector(r, 1)};
    auto kek = crypto::unwrap_kek(wrapping, wrapped);
    if (!kek) {
      return refuse(why,
                    "the database's " + named(v) + " does not open with this root key: " +
                        "the database belongs to another gateway",
                    Errc::crypto_failure)
          .error();
    }
    if (auto mine = ring_keks.find(v)) {
      if (crypto::kek_fingerprint(**mine) == crypto::kek_fingerprint(*kek)) continue;
      auto used = c.query("SELECT count(*) FROM data_keys WHERE kek_version = $1",
                          pg::Params().int64(v.value));
      if (!used) return used.error();
      if (!replace_unused || used->int64(0, 0) != 0) {
        return refuse(why,
                      "the KEK ring file " + path.string() + " and the database hold " +
                          "different KEKs as " + named(v) + ": the ring file belongs to " +
                          "another gateway; copy this gateway's ring file here",
                      Errc::conflict)
            .error();
      }
      entries.erase(entry_of(entries, v));
      // The engine's own version, which gives way, was registered when it was made.
      if (auto d =
              c.run("DELETE FROM kek_versions WHERE version = $1", pg::Params().int64(v.value));
          !d) {
        return d.error();
      }
    }
    entries.push_back({std::move(wrapped), keks->int64(r, 2)});
    absorbed.push_back(std::move(*kek));
  }
  return absorbed;
}

/// Open, phase 2: a version the database marks destroyed leaves this ring file too. True when
/// one did.
bool drop_destroyed(const std::map<std::uint32_t, Registered>& reg,
                    std::vector<RingEntry>& entries) {
  bool dropped = false;
  for (const auto& [v, r] : reg) {
    if (!r.destroyed) continue;
    if (auto it = entry_of(entries, KekVersion{v}); it != entries.end()) {
      entries.erase(it);
      dropped = true;
    }
  }
  return dropped;
}

/// Open, phase 3 (a new database and no ring yet): version 1, or the next after what was
/// destroyed, registered first: of two nodes making it at once, the loser is refused.
Result<RingEntry> make_first_version(pg::Conn& c, const crypto::SubKey& wrapping,
                                     const std::map<std::uint32_t, Registered>& reg,
                                     std::int64_t now_ms, const std::filesystem::path& path,
                                     std::string* why) {
  const std::uint32_t next = reg.empty() ? 1 : reg.rbegin()->first + 1;
  const auto kek = crypto::KeyEncryptionKey::generate(KekVersion{next});
  bool inserted = false;
  if (auto r = register_version(c, kek, now_ms, &inserted); !r) return r.error();
  if (!inserted) {
    return refuse(why,
                  "another node made " + named(KekVersion{next}) + " of this database at " +
                      "the same moment: copy its KEK ring file to " + path.string() +
                      " and start this node again",
                  Errc::conflict)
        .error();
  }
  auto wrapped = crypto::wrap_kek(wrapping, kek);
  if (!wrapped) return make_error_code(Errc::crypto_failure);
  return RingEntry{std::move(*wrapped), now_ms};
}

/// Open, phase 5: every registered version the ring holds is the database's own.
Result<void> check_fingerprints(pg::Conn& c, const crypto::KeyRing& loaded,
                                const std::filesystem::path& path, std::string* why) {
  auto reg = registered_versions(c);
  if (!reg) return reg.error();
  for (const auto& [v, r] : *reg) {
    auto mine = loaded.find(KekVersion{v});
    if (r.destroyed || !mine) continue;
    if (crypto::kek_fingerprint(**mine) != r.fingerprint) {
      return refuse(why,
                    "the KEK ring file " + path.string() + " holds another KEK as " +
                        named(KekVersion{v}) + " than this database's: it belongs to " +
                        "another gateway; copy this gateway's ring file here",
                    Errc::conflict);
    }
  }
  return {};
}

}  // namespace

Result<void> PgStorage::Impl::open_ring(pg::Conn& c, std::string* why, bool replace_unused) {
  const auto& path = options.kek_ring_file;
  auto lock = FileLock::take(path, why);
  if (!lock) return lock.error();
  auto file = read_ring_file(path, why);
  if (!file) return file.error();
  std::vector<RingEntry> entries = std::move(file->entries);
  auto ring_keks = unwrap_entries(kek_wrapping_key, entries, path, why);
  if (!ring_keks) return ring_keks.error();

  auto absorbed =
      absorb_keks_table(c, kek_wrapping_key, *ring_keks, entries, replace_unused, path, why);
  if (!absorbed) return absorbed.error();
  auto reg = registered_versions(c);
  if (!reg) return reg.error();
  bool changed = !absorbed->empty();
  changed = drop_destroyed(*reg, entries) || changed;
  const bool any_live =
      std::any_of(reg->begin(), reg->end(), [](const auto& e) { return !e.second.destroyed; });
  const bool make_first = entries.empty() && !any_live;
  if (make_first) {
    auto first = make_first_version(c, kek_wrapping_key, *reg, to_db(now()), path, why);
    if (!first) return first.error();
    entries.push_back(std::move(*first));
    changed = true;
  }
  std::sort(entries.begin(), entries.end(), [](const RingEntry& a, const RingEntry& b) {
    return a.wrapped.version.value < b.wrapped.version.value;
  });
  // Phase 4: the ring file first, then the table emptied (its retired rows too: their wrapped
  // KEK was blanked already; the table is only an inbox now), then what the database does not
  // know yet registered: the absorbed KEKs, or a whole ring brought to a new database. (A
  // version a ring_only rotation added stays unregistered until the rotation's next run: new
  // data keys are wrapped under registered versions only.)
  if (changed) {
    if (auto r = write_ring_file(path, entries, why); !r) return r;
  }
  if (auto r = c.run("DELETE FROM keks"); !r) return r;
  for (const auto& kek : *absorbed) {
    if (auto r = register_version(c, kek, to_db(now()), nullptr); !r) return r;
  }
  auto loaded = unwrap_entries(kek_wrapping_key, entries, path, why);
  if (!loaded) return loaded.error();
  if (!any_live && absorbed->empty() && !make_first) {
    for (const auto v : loaded->versions()) {
      if (auto r = register_version(c, **loaded->find(v), to_db(now()), nullptr); !r) return r;
    }
  }
  if (auto r = check_fingerprints(c, *loaded, path, why); !r) return r;
  const std::string stamp = ring_file_stamp(path);
  std::lock_guard guard(ring_mutex);
  ring = std::make_shared<const crypto::KeyRing>(std::move(*loaded));
  ring_stamp = stamp;
  return {};
}

Result<void> PgStorage::Impl::check_ring_covers(pg::Conn& c, std::string* why) {
  if (schema_version < kRingFileSchema) return {};
  const auto held = ring_now();
  const std::string what_to_do =
      ": copy the KEK ring file of a node that has it to " + options.kek_ring_file.string() +
      ". If it was destroyed (sluisctl store kek destroy), this database is a backup from before "
      "that, and what was wrapped under it cannot be opened any more";
  auto current = current_kek_version(c);
  if (!current) {
    if (current.error() != Errc::key_unavailable) return current.error();
    return refuse(why, "the database names no KEK version in force" + what_to_do,
                  Errc::key_unavailable);
  }
  auto rows = c.query("SELECT kek_version, count(*) FROM data_keys GROUP BY kek_version "
                      "ORDER BY kek_version");
  if (!rows) return rows.error();
  std::string missing;
  for (int r = 0; r < rows->size(); ++r) {
    const KekVersion v{static_cast<std::uint32_t>(rows->int64(r, 0))};
    if (held->find(v)) continue;
    missing += (missing.empty() ? "" : ", ") + std::to_string(rows->int64(r, 1)) +
               " data keys under " + named(v);
  }
  if (!missing.empty()) {
    return refuse(why,
                  "the database holds " + missing + ", which the KEK ring file " +
                      options.kek_ring_file.string() + " does not hold" + what_to_do,
                  Errc::key_unavailable);
  }
  if (!held->find(*current)) {
    return refuse(why,
                  "new data keys are wrapped under " + named(*current) +
                      ", which the KEK ring file " + options.kek_ring_file.string() +
                      " does not hold" + what_to_do,
                  Errc::key_unavailable);
  }
  return {};
}

// --- the erasure ledger ---

Result<void> PgStorage::Impl::reapply_erasures(pg::Conn& c, std::string* why) {
  auto lock = FileLock::take(options.erasure_ledger_file, why);
  if (!lock) return lock.error();
  auto ledger = read_ledger(options.erasure_ledger_file, ledger_key, why);
  if (!ledger) return ledger.error();
  // Every tombstone of the ledger and of both tables in both tables, and nothing a tombstone
  // names left: a dump restored from before an erasure is erased again here.
  std::string lines;
  std::set<std::string> in_ledger;
  for (const auto& r : *ledger) {
    lines += r.tag + " " + std::to_string(r.erased_at_ms) + " " + std::to_string(r.reason) + "\n";
    in_ledger.insert(r.tag);
  }
  auto fail = [&](boost::system::error_code ec) -> Result<void> {
    static_cast<void>(c.exec("ROLLBACK"));
    return ec;
  };
  if (auto r = c.exec("BEGIN"); !r) return r;
  if (!lines.empty()) {
    if (auto r = c.run("INSERT INTO erasures(tag, erased_at, reason) "
                       "SELECT split_part(l, ' ', 1), split_part(l, ' ', 2)::bigint, "
                       "split_part(l, ' ', 3)::smallint "
                       "FROM regexp_split_to_table($1, E'\\n') AS l WHERE l <> '' "
                       "ON CONFLICT (tag) DO NOTHING",
                       pg::Params().text(lines));
        !r) {
      return fail(r.error());
    }
  }
  if (auto r = c.exec(R"sql(
INSERT INTO erasures(tag, erased_at, reason) SELECT tag, erased_at, 1 FROM key_erasures
  ON CONFLICT (tag) DO NOTHING;
INSERT INTO key_erasures(tag, erased_at) SELECT tag, erased_at FROM erasures
  ON CONFLICT (tag) DO NOTHING;
DELETE FROM clients WHERE tag IN (SELECT tag FROM erasures);
DELETE FROM data_keys WHERE client_tag IN (SELECT tag FROM key_erasures);
)sql");
      !r) {
    return fail(r.error());
  }
  auto all = c.query("SELECT tag, erased_at, reason FROM erasures ORDER BY erased_at, tag");
  if (!all) return fail(all.error());
  if (auto r = c.exec("COMMIT"); !r) return fail(r.error());
  // What this database knows and the ledger does not (another node's erasure, or one whose
  // append a crash cut off) goes into the ledger.
  std::vector<LedgerRecord> add;
  for (int r = 0; r < all->size(); ++r) {
    std::string tag = all->text(r, 0);
    if (in_ledger.count(tag) != 0) continue;
    add.push_back({std::move(tag), all->int64(r, 1), static_cast<int>(all->int64(r, 2))});
  }
  if (add.empty()) return {};
  return append_ledger(options.erasure_ledger_file, ledger_key, add, why);
}

Result<void> PgStorage::Impl::ledger_erasure(Session& s, std::string_view tag) {
  auto rows =
      s.data.query("SELECT erased_at, reason FROM erasures WHERE tag = $1", pg::Params().text(tag));
  if (!rows) return rows.error();
  LedgerRecord record{std::string(tag), to_db(now()), 1};
  if (!rows->empty()) {
    record.erased_at_ms = rows->int64(0, 0);
    record.reason = static_cast<int>(rows->int64(0, 1));
  }
  auto lock = FileLock::take(options.erasure_ledger_file, nullptr);
  if (!lock) return lock.error();
  return append_ledger(options.erasure_ledger_file, ledger_key, {record}, nullptr);
}

// --- rotation and destruction ---

Result<KekRotation> PgStorage::rotate_kek(const KekRotationOptions& options, std::string* why) {
  auto& i = *impl_;
  if (i.schema_version < kRingFileSchema) return make_error_code(Errc::invalid_argument);
  auto opened = i.new_session();
  if (!opened) return opened.error();
  pg::Conn& c = (*opened)->keys;
  KekLock kek_lock(c);
  if (auto r = kek_lock.take(); !r) return r.error();
  KekRotation out;
  {
    auto lock = FileLock::take(i.options.kek_ring_file, why);
    if (!lock) return lock.error();
    if (auto r = i.reload_ring(why); !r) return r.error();
    auto reg = registered_versions(c);
    if (!reg) return reg.error();
    auto current = i.current_kek_version(c);
    if (!current) return current.error();
    auto left = c.query("SELECT count(*) FROM data_keys WHERE kek_version <> $1",
                        pg::Params().int64(current->value));
    if (!left) return left.error();
    const auto ring = i.ring_now();
    const auto versions = ring->versions();
    const KekVersion newest = versions.empty() ? KekVersion{0} : versions.back();
    if (left->int64(0, 0) > 0) {
      out.version = *current;  // an unfinished rotation: go on with it
      out.registered = true;
    } else if (newest.value > current->value && reg->count(newest.value) == 0) {
      out.version = newest;  // made by a ring_only run
    } else {
      const std::uint32_t next =
          std::max(reg->empty() ? 0U : reg->rbegin()->first, newest.value) + 1;
      auto fresh = crypto::KeyEncryptionKey::generate(KekVersion{next});
      auto wrapped = crypto::wrap_kek(i.kek_wrapping_key, fresh);
      if (!wrapped) return make_error_code(Errc::crypto_failure);
      auto file = read_ring_file(i.options.kek_ring_file, why);
      if (!file) return file.error();
      file->entries.push_back({std::move(*wrapped), to_db(i.now())});
      // The ring file first: a version registered in the database that no ring holds would stop
      // every node.
      if (auto r = write_ring_file(i.options.kek_ring_file, file->entries, why); !r) {
        return r.error();
      }
      if (auto r = i.reload_ring(why); !r) return r.error();
      out.version = KekVersion{next};
      out.created = true;
    }
    if (options.ring_only) return out;
    if (!out.registered) {
      auto kek = i.ring_now()->find(out.version);
      if (!kek) return make_error_code(Errc::key_unavailable);
      if (auto r = register_version(c, **kek, to_db(i.now()), nullptr); !r) return r.error();
      out.registered = true;
    }
  }
  // Rewrap in batches, each its own transaction; what a cut-off run left is what the next finds.
  const auto ring = i.ring_now();
  auto to = ring->find(out.version);
  if (!to) return make_error_code(Errc::key_unavailable);
  const std::size_t batch = std::max<std::size_t>(options.batch_rows, 1);
  for (;;) {
    if (auto r = c.exec("BEGIN"); !r) return r.error();
    auto fail = [&](boost::system::error_code ec) -> Result<KekRotation> {
      static_cast<void>(c.exec("ROLLBACK"));
      return ec;
    };
    auto rows =
        c.query("SELECT client_id, category, version, kek_version, wrapped FROM data_keys "
                "WHERE kek_version <> $1 ORDER BY client_id, category, version "
                "LIMIT $2 FOR UPDATE",
                pg::Params().int64(out.version.value).int64(static_cast<std::int64_t>(batch)));
    if (!rows) return fail(rows.error());
    for (int r = 0; r < rows->size(); ++r) {
      auto client = client_from(rows->bytes(r, 0));
      if (!client) return fail(client.error());
      const std::string category = rows->text(r, 1);
      const crypto::DataKeyVersion version{static_cast<std::uint32_t>(rows->int64(r, 2))};
      const KekVersion from_version{static_cast<std::uint32_t>(rows->int64(r, 3))};
      std::shared_ptr<const crypto::KeyRing> hold;
      auto from = i.kek_for(from_version, hold);
      if (!from) {
        if (why != nullptr) {
          *why = "a data key is wrapped under " + named(from_version) +
                 ", which the KEK ring "
                 "file " +
                 i.options.kek_ring_file.string() +
                 " does not hold; copy the ring "
                 "file of a node that has it here and run the rotation again";
        }
        return fail(from.error());
      }
      auto fresh = crypto::rewrap_data_key(**from, **to, {*client, category, version},
                                           {from_version, rows->byte_vector(r, 4)});
      if (!fresh) return fail(make_error_code(Errc::crypto_failure));
      if (auto u = c.run("UPDATE data_keys SET kek_version = $1, wrapped = $2 "
                         "WHERE client_id = $3 AND category = $4 AND version = $5",
                         pg::Params()
                             .int64(out.version.value)
                             .bytes(fresh->blob)
                             .bytes(client->view())
                             .text(category)
                             .int64(version.value));
          !u) {
        return fail(u.error());
      }
    }
    if (rows->size() > 0) {
      if (auto r = i.step("kek.rewrap"); !r) return fail(r.error());
    }
    if (auto r = c.exec("COMMIT"); !r) return fail(r.error());
    out.rewrapped += static_cast<std::uint64_t>(rows->size());
    if (options.on_batch && rows->size() > 0) options.on_batch(out.rewrapped);
    if (static_cast<std::size_t>(rows->size()) < batch) break;
  }
  return out;
}

Result<KekDestruction> PgStorage::destroy_kek(KekVersion version, std::string* why) {
  auto& i = *impl_;
  if (i.schema_version < kRingFileSchema) return make_error_code(Errc::invalid_argument);
  auto opened = i.new_session();
  if (!opened) return opened.error();
  pg::Conn& c = (*opened)->keys;
  KekLock kek_lock(c);
  if (auto r = kek_lock.take(); !r) return r.error();
  KekDestruction out;
  auto current = i.current_kek_version(c);
  if (!current) return current.error();
  if (*current == version) {
    out.is_current = true;
    return out;
  }
  auto used = c.query("SELECT count(*) FROM data_keys WHERE kek_version = $1",
                      pg::Params().int64(version.value));
  if (!used) return used.error();
  out.still_wrapped = static_cast<std::uint64_t>(used->int64(0, 0));
  if (out.still_wrapped > 0) return out;
  auto lock = FileLock::take(i.options.kek_ring_file, why);
  if (!lock) return lock.error();
  auto file = read_ring_file(i.options.kek_ring_file, why);
  if (!file) return file.error();
  auto& entries = file->entries;
  const auto it = std::find_if(entries.begin(), entries.end(),
                               [&](const RingEntry& e) { return e.wrapped.version == version; });
  auto marked = c.query("UPDATE kek_versions SET destroyed_at = coalesce(destroyed_at, $1) "
                        "WHERE version = $2",
                        pg::Params().int64(to_db(i.now())).int64(version.value));
  if (!marked) return marked.error();
  if (marked->affected() == 0 && it == entries.end()) {
    if (why != nullptr) *why = "there is no " + named(version) + " in this database or ring file";
    return make_error_code(Errc::not_found);
  }
  if (it != entries.end()) {
    if (marked->affected() == 0) {
      // A version only this ring file had (a ring_only rotation): recorded as destroyed too.
      auto kek = crypto::unwrap_kek(i.kek_wrapping_key, it->wrapped);
      if (!kek) return make_error_code(Errc::crypto_failure);
      if (auto r = register_version(c, *kek, it->created_at_ms, nullptr); !r) return r.error();
      if (auto r = c.run("UPDATE kek_versions SET destroyed_at = $1 WHERE version = $2",
                         pg::Params().int64(to_db(i.now())).int64(version.value));
          !r) {
        return r.error();
      }
    }
    entries.erase(it);
    if (auto r = write_ring_file(i.options.kek_ring_file, entries, why); !r) return r.error();
  }
  if (auto r = i.reload_ring(why); !r) return r.error();
  out.destroyed = true;
  return out;
}

std::vector<KekVersion> PgStorage::kek_versions() const {
  return impl_->ring_now()->versions();
}

Result<std::uint64_t> PgStorage::count_data_keys(KekVersion version) {
  auto opened = impl_->new_session();
  if (!opened) return opened.error();
  auto rows = (*opened)->keys.query("SELECT count(*) FROM data_keys WHERE kek_version = $1",
                                    pg::Params().int64(version.value));
  if (!rows) return rows.error();
  return static_cast<std::uint64_t>(rows->int64(0, 0));
}

}  // namespace sluis::pgstore
