// sluisd's start-up steps, each refusing with one sentence an operator can act on.
#pragma once

#include "sluis/crypto/keys.hpp"
#include "sluis/audit/log.hpp"
#include "sluis/daemon/config.hpp"
#include "sluis/pgstore/pg_storage.hpp"
#include "sluis/store/store.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace sluis::daemon {

/// A start-up step failed; what() is the sentence to print.
class StartupRefusal : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// sluisd's command line.
struct CommandLine {
  std::filesystem::path config = "/etc/sluis/sluis.toml";
  std::optional<std::filesystem::path> passphrase_file;  ///< for a sealed root key file
  std::optional<std::filesystem::path> port_file;  ///< written with the bound port after start
  bool help = false;
};

/// Parses argv. Throws StartupRefusal naming the bad option.
[[nodiscard]] CommandLine parse_command_line(int argc, char** argv);

/// The usage text.
[[nodiscard]] const char* usage() noexcept;

/// Forbids core dumps and ptrace-style attachment by other users of this process (the root key
/// and plaintext fields live in its memory): PR_SET_DUMPABLE 0 and RLIMIT_CORE 0. Throws
/// StartupRefusal when the kernel refuses.
void forbid_core_dumps();

/// Unlocks the root key file (sealed with the passphrase from `passphrase_file`, or raw).
[[nodiscard]] crypto::RootKey
unlock_root_key(const std::filesystem::path& key_file,
                const std::optional<std::filesystem::path>& passphrase_file);

/// Opens the store in `config.data_dir` (data.db and keys.db).
[[nodiscard]] std::unique_ptr<store::Store> open_store(const DaemonConfig& config,
                                                         const crypto::RootKey& root);

/// The storage engine [store] chose: the SQLCipher store, or a PostgreSQL database.
struct OpenedEngine {
  std::unique_ptr<store::Store> sqlcipher;     ///< set for engine = sqlcipher
  std::unique_ptr<pgstore::PgStorage> postgresql;  ///< set for engine = postgresql
  [[nodiscard]] store::Storage& storage() const {
    return sqlcipher ? static_cast<store::Storage&>(*sqlcipher) : *postgresql;
  }
};

/// Opens the engine of `config.store`: open_store for SQLCipher, the PostgreSQL database of
/// `conninfo` otherwise (StartupRefusal with a sentence when it cannot be reached or used).
[[nodiscard]] OpenedEngine open_engine(const DaemonConfig& config, const crypto::RootKey& root);

/// Opens (creating when absent) the audit log: `config.data_dir/audit.db` on SQLCipher, the
/// audit tables of the [store] database on PostgreSQL (every node shares one log there).
[[nodiscard]] std::unique_ptr<audit::AuditLog> open_audit_log(const DaemonConfig& config,
                                                                const crypto::RootKey& root);

/// Loads and validates the rule pack, or throws StartupRefusal with its first diagnostics.
[[nodiscard]] std::shared_ptr<const policy::RulePack> load_rules(const std::filesystem::path& path);

/// The rule pack in force when a node on PostgreSQL starts: the one stored in the database
/// (the node's file only seeds an empty database), parsed, and its generation.
struct SharedRulePack {
  std::shared_ptr<const policy::RulePack> pack;
  std::int64_t generation = 0;
  bool file_differs = false;  ///< the node's file holds other bytes than the stored pack
};

/// The file's bytes; StartupRefusal when it cannot be read.
[[nodiscard]] std::string read_rule_pack_text(const std::filesystem::path& path);

/// Validates the node's rule pack file (StartupRefusal as load_rules), seeds the database with
/// it when none is stored, and returns the stored pack (StartupRefusal when it does not load or
/// the database cannot be read).
[[nodiscard]] SharedRulePack load_shared_rules(pgstore::PgStorage& pg,
                                               const std::filesystem::path& path);

/// The diagnostics of a rule pack that did not load, one per line (at most `max_lines`).
[[nodiscard]] std::string describe(const policy::Diagnostics& diagnostics, std::size_t max_lines);

/// Writes `port` and a newline to `path` atomically (temporary file + rename), so a reader never
/// sees a half-written number.
void write_port_file(const std::filesystem::path& path, std::uint16_t port);

}  // namespace sluis::daemon
