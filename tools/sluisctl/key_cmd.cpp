// sluisctl key: create and check root key files (passphrase-sealed with Argon2id, or raw), and
// write the SQLCipher key of one of the gateway's files for forensics with the sqlcipher CLI.
#include "sluis/crypto/keyfile.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluisctl/command.hpp"
#include "sluisctl/options.hpp"
#include "sluisctl/passphrase.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

namespace sluis::ctl {
namespace {

constexpr const char* kKeyUsage =
    "usage:\n"
    "  sluisctl key new --out FILE [--raw] [--passphrase-file F]\n"
    "                   [--argon2-ops N] [--argon2-mem-mib M]\n"
    "      Creates a new random 256-bit root key. Sealed under a passphrase (asked twice on the\n"
    "      terminal, or read from F) unless --raw (for automation: protect the file yourself).\n"
    "      Argon2id defaults: 3 passes, 256 MiB.\n"
    "  sluisctl key check FILE [--passphrase-file F]\n"
    "      Opens the key file and says whether it is sound; prints nothing secret.\n"
    "  sluisctl key rotate --home DIR [--passphrase-file F]\n"
    "      Rotates the key-encryption key (same as 'sluisctl rotate').\n"
    "  sluisctl key sqlcipher --key FILE [--passphrase-file F] --file audit|data|keys --out F2\n"
    "      Writes F2 (mode 0600, never overwritten): the SQLCipher statements that open the\n"
    "      gateway's audit log (audit.db), data store (data.db) or key store (keys.db) with the\n"
    "      sqlcipher command line, for forensics on a copy: 'sqlcipher -init F2 COPY.db'. F2\n"
    "      holds that file's key (derived from the root key): delete it when done.\n";

int key_new(Args args) {
  const Options opt(args, {"out", "passphrase-file", "argon2-ops", "argon2-mem-mib"}, {"raw"});
  const std::filesystem::path out = opt.require("out");
  if (std::filesystem::exists(out)) {
    std::fprintf(stderr,
                 "sluisctl: %s already exists; a root key file is never overwritten. Choose "
                 "another --out path or move the old file away first.\n",
                 out.c_str());
    return kExitFailed;
  }
  const auto root = crypto::RootKey::random();
  crypto::Result<void> written;
  if (opt.flag("raw")) {
    written = crypto::write_raw_root_key(out, root);
  } else {
    crypto::Argon2Limits limits;
    if (auto ops = opt.get("argon2-ops")) limits.ops = parse_count("argon2-ops", *ops);
    if (auto mem = opt.get("argon2-mem-mib")) {
      limits.mem_bytes = parse_count("argon2-mem-mib", *mem) << 20;
    }
    const auto pass =
        read_passphrase(opt.get("passphrase-file"), "Passphrase for the new root key: ", true);
    written = crypto::write_sealed_root_key(out, root, pass.reveal(), limits);
  }
  if (!written) {
    std::fprintf(stderr, "sluisctl: could not write the key file %s: %s\n", out.c_str(),
                 written.error().message().c_str());
    return kExitFailed;
  }
  std::printf("Root key written to %s (%s, mode 0600). Keep a copy offline: without it the "
              "database cannot be opened.\n",
              out.c_str(), opt.flag("raw") ? "raw" : "sealed under your passphrase");
  return kExitOk;
}

int key_check(Args args) {
  const Options opt(args, {"passphrase-file"}, {});
  if (opt.positional().size() != 1) throw UsageError("key check takes one FILE");
  const std::filesystem::path path = opt.positional()[0];
  auto sealed = crypto::root_key_file_is_sealed(path);
  if (!sealed) {
    std::fprintf(stderr, "sluisctl: %s is not a usable root key file: %s\n", path.c_str(),
                 sealed.error().message().c_str());
    return kExitFailed;
  }
  crypto::SecretBuffer pass(0);
  if (*sealed) pass = read_passphrase(opt.get("passphrase-file"), "Passphrase: ", false);
  auto root = crypto::read_root_key(path, pass.reveal());
  if (!root) {
    std::fprintf(stderr, "sluisctl: %s does not open: %s\n", path.c_str(),
                 root.error().message().c_str());
    return kExitFailed;
  }
  std::printf("%s: a %s root key file; it opens.\n", path.c_str(),
              *sealed ? "passphrase-sealed" : "raw");
  return kExitOk;
}

/// The SQLCipher statements that open one of the gateway's files with its raw key (docs/store.md):
/// the 67-byte x'<64 hex>' key string SQLCipher 3.x takes as key material (no PBKDF2), then the
/// setting that is not stored in the file (sluis writes 4 KiB pages; 3.x defaults to 1 KiB).
int key_sqlcipher(Args args) {
  const Options opt(args, {"key", "passphrase-file", "file", "out"}, {});
  if (!opt.positional().empty()) throw UsageError("key sqlcipher takes only options");
  const std::string file = opt.require("file");
  crypto::KeyPurpose purpose{};
  std::string_view described;
  if (file == "audit") {
    purpose = crypto::KeyPurpose::audit_store;
    described = "the audit log (data/audit.db)";
  } else if (file == "data") {
    purpose = crypto::KeyPurpose::database;
    described = "the data store (data/data.db)";
  } else if (file == "keys") {
    purpose = crypto::KeyPurpose::keystore;
    described = "the key store (data/keys.db)";
  } else {
    throw UsageError("option --file needs audit, data or keys");
  }
  const std::filesystem::path key_path = opt.require("key");
  const std::filesystem::path out = opt.require("out");
  auto sealed = crypto::root_key_file_is_sealed(key_path);
  if (!sealed) {
    std::fprintf(stderr, "sluisctl: %s is not a usable root key file: %s\n", key_path.c_str(),
                 sealed.error().message().c_str());
    return kExitFailed;
  }
  crypto::SecretBuffer pass(0);
  if (*sealed) pass = read_passphrase(opt.get("passphrase-file"), "Passphrase: ", false);
  auto root = crypto::read_root_key(key_path, pass.reveal());
  if (!root) {
    std::fprintf(stderr, "sluisctl: %s does not open: %s\n", key_path.c_str(),
                 root.error().message().c_str());
    return kExitFailed;
  }
  const auto key = crypto::derive_subkey(*root, purpose);

  // The text is built in guarded memory and wiped when it goes; the file is created, never
  // replaced, owner-only.
  static constexpr std::string_view kHead =
      "-- sluis: opens a gateway file with the sqlcipher command line (sluisctl key sqlcipher).\n"
      "-- This file holds the file's key: keep it mode 0600 and delete it when done.\n"
      "PRAGMA key = \"x'";
  static constexpr std::string_view kTail = "'\";\nPRAGMA cipher_page_size = 4096;\n";
  crypto::SecretBuffer text(kHead.size() + 64 + kTail.size());
  auto* t = reinterpret_cast<char*>(text.reveal_mut().data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t n = 0;
  for (const char c : kHead)
    t[n++] = c;
  for (const auto b : key.reveal()) {
    t[n++] = kHex[b >> 4];
    t[n++] = kHex[b & 0x0f];
  }
  for (const char c : kTail)
    t[n++] = c;
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr,
                 "sluisctl: cannot create %s: %s (it is never overwritten; choose a new path)\n",
                 out.c_str(), std::strerror(errno));
    return kExitFailed;
  }
  bool ok = true;
  for (std::size_t done = 0; ok && done < n;) {
    const ssize_t w = ::write(fd, t + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) done += static_cast<std::size_t>(w);
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(out.c_str());
    std::fprintf(stderr, "sluisctl: could not write %s\n", out.c_str());
    return kExitFailed;
  }
  std::printf("Wrote %s (mode 0600): the key and settings of %.*s for the sqlcipher command line.\n"
              "Open a copy, never the live file: sqlcipher -init %s COPY.db\n"
              "Delete %s when done: it opens the file without the root key.\n",
              out.c_str(), static_cast<int>(described.size()), described.data(), out.c_str(),
              out.c_str());
  return kExitOk;
}

}  // namespace

int run_key(Args args) {
  try {
    if (!args.empty() && args[0] == "new") return key_new(args.subspan(1));
    if (!args.empty() && args[0] == "check") return key_check(args.subspan(1));
    if (!args.empty() && args[0] == "rotate") return run_rotate(args.subspan(1));
    if (!args.empty() && args[0] == "sqlcipher") return key_sqlcipher(args.subspan(1));
    if (!args.empty() && args[0] == "help") {
      std::fputs(kKeyUsage, stdout);
      return kExitOk;
    }
    std::fputs(kKeyUsage, stderr);
    return kExitUsage;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sluisctl key: %s.\n%s", e.what(), kKeyUsage);
    return kExitUsage;
  }
}

}  // namespace sluis::ctl
