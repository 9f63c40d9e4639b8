// Reading an operator passphrase without echo, or from a file for automation.
#pragma once

#include "sluis/crypto/secret.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace sluis::ctl {

/// Reads a passphrase into guarded memory. With `file`, reads that file's first line (the file
/// should be mode 0600). Without, prompts on the terminal with echo off; `confirm` asks twice.
/// Throws std::runtime_error with a sentence a person can act on (no terminal, mismatch, empty).
[[nodiscard]] crypto::SecretBuffer read_passphrase(const std::optional<std::string>& file,
                                                   std::string_view prompt, bool confirm);

}  // namespace sluis::ctl
