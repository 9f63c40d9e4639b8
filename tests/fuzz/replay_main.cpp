// Replay driver for builds without libFuzzer: runs a fuzz target once on every corpus file.
//
// Usage: fuzz_replay_<name> PATH...   (each PATH a file, or a directory whose regular files are
// all run, in name order so output is stable). Prints how many inputs ran; exits 0 when all ran,
// 1 when a path cannot be read or nothing was found, and aborts (like libFuzzer would) when the
// target's invariant check fails, naming the file being run first.
#include "fuzz_support.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

namespace {

namespace fs = std::filesystem;

bool read_file(const fs::path& path, std::vector<std::uint8_t>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// Collects the inputs named by `arg`: the file itself, or every regular file of the directory.
bool collect(const fs::path& arg, std::vector<fs::path>& inputs) {
  std::error_code ec;
  if (fs::is_regular_file(arg, ec)) {
    inputs.push_back(arg);
    return true;
  }
  if (!fs::is_directory(arg, ec)) return false;
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(arg, ec)) {
    if (entry.is_regular_file(ec)) found.push_back(entry.path());
  }
  if (ec) return false;
  std::sort(found.begin(), found.end());
  inputs.insert(inputs.end(), found.begin(), found.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
    return 1;
  }
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!collect(argv[i], inputs)) {
      std::fprintf(stderr, "%s: cannot read '%s'\n", argv[0], argv[i]);
      return 1;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "%s: no inputs found\n", argv[0]);
    return 1;
  }
  std::size_t ran = 0;
  std::vector<std::uint8_t> bytes;
  for (const auto& path : inputs) {
    if (!read_file(path, bytes)) {
      std::fprintf(stderr, "%s: cannot read '%s'\n", argv[0], path.c_str());
      return 1;
    }
    // Printed before the run so that an abort inside the target names its input.
    std::fprintf(stderr, "running %s (%zu bytes)\n", path.c_str(), bytes.size());
    // libFuzzer never passes a null pointer, not even for an empty input: neither do we.
    static const std::uint8_t kEmpty = 0;
    try {
      (void)LLVMFuzzerTestOneInput(bytes.empty() ? &kEmpty : bytes.data(), bytes.size());
    } catch (const std::exception& e) {
      // libFuzzer treats an escaping exception as a crash; so does the replay.
      std::fprintf(stderr, "%s: uncaught exception on '%s': %s\n", argv[0], path.c_str(), e.what());
      return 2;
    }
    ++ran;
  }
  std::printf("%s: ran %zu inputs\n", argv[0], ran);
  return 0;
}
