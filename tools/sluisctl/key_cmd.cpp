// sluisctl key: create and check root key files (passphrase-sealed with Argon2id, or raw).
#include "sluis/crypto/keyfile.hpp"
#include "sluisctl/command.hpp"
#include "sluisctl/options.hpp"
#include "sluisctl/passphrase.hpp"

#include <cstdio>
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
    "      Rotates the key-encryption key (same as 'sluisctl rotate').\n";

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

}  // namespace

int run_key(Args args) {
  try {
    if (!args.empty() && args[0] == "new") return key_new(args.subspan(1));
    if (!args.empty() && args[0] == "check") return key_check(args.subspan(1));
    if (!args.empty() && args[0] == "rotate") return run_rotate(args.subspan(1));
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
