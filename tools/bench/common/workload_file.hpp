// The workload file: which partners, workers and client pseudonyms the load generator uses.
#pragma once

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluis::bench {

/// A malformed workload file; what() is `file:line: sentence a person can act on`.
class WorkloadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where the client certificate and key of a partner are (PEM, issued by the gateway CA).
struct PartnerCredentialPaths {
  std::string partner;
  std::filesystem::path certificate;
  std::filesystem::path key;
};

/// A consent-checked dossier read that must return exactly `fragments` fragments.
struct ReadOp {
  std::string partner;
  std::string worker;
  std::string pseudonym;  ///< the partner's own pseudonym of the client
  std::size_t fragments = 0;
};

/// A new fragment written by the partner on one of its clients.
struct WriteOp {
  std::string partner;
  std::string worker;
  std::string pseudonym;
  std::string category;
};

/// A consent granted to `grantee` and withdrawn again, recorded by `worker` (of `role`).
struct ConsentOp {
  std::string partner;
  std::string worker;
  std::string role;
  std::string pseudonym;
  std::string grantee;
};

/// Everything a workload file holds.
struct Workload {
  std::vector<PartnerCredentialPaths> partners;
  std::vector<ReadOp> reads;
  std::vector<WriteOp> writes;
  std::vector<ConsentOp> consents;
};

/// Writes `workload` as a tab-separated text file (format in docs/performance.md, issue 6,
/// "Commands"): a comment line, then one line per partner and per operation. Throws
/// std::runtime_error when the file cannot be written or a value contains a tab or line break.
void write_workload(const std::filesystem::path& path, const Workload& workload);

/// Reads a file written by write_workload. Throws WorkloadError naming the file and line for
/// anything else; relative certificate paths are resolved against the file's directory.
[[nodiscard]] Workload read_workload(const std::filesystem::path& path);

}  // namespace sluis::bench
