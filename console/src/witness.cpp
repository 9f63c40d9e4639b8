// The audit-log witness: checkpoint and consistency-proof checks, and the file-backed archive.
#include "sluis/console/witness.hpp"

#include "sluis/console/api_client.hpp"
#include "sluis/crypto/encoding.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <deque>
#include <fstream>
#include <sstream>
#include <utility>

namespace sluis::console {
namespace {

class WitnessCategory final : public boost::system::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "sluis.console.witness"; }
  [[nodiscard]] std::string message(int ev) const override {
    switch (static_cast<WitnessErrc>(ev)) {
    case WitnessErrc::log_unreachable: return "the audit log could not be reached";
    case WitnessErrc::archive_failed: return "the checkpoint archive could not be read or written";
    case WitnessErrc::archive_corrupt: return "the checkpoint archive is damaged";
    case WitnessErrc::invalid_argument: return "invalid witness configuration";
    }
    return "unknown witness error";
  }
};

// ---------------------------------------------------------------------------------------------
// The archive file.

constexpr std::string_view kArchiveHeader = "sluis-witness-archive v1\n";
constexpr std::string_view kRecordTag = "sluis-witness-v1";
constexpr std::string_view kAlertTag = "sluis-witness-alert-v1";

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string base64_of(std::string_view bytes) {
  return crypto::to_base64(
      std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::string format_record(const ArchivedCheckpoint& r) {
  std::string line(kRecordTag);
  line += ' ' + std::to_string(to_ms(r.seen_at));
  line += ' ' + std::to_string(r.size);
  line += ' ' + crypto::to_base64(r.root);
  line += ' ' + base64_of(r.note);
  line += '\n';
  return line;
}

std::string format_alert(const ArchivedAlert& r) {
  std::string line(kAlertTag);
  line += ' ' + std::to_string(to_ms(r.seen_at));
  line += ' ' + std::string(alert_kind_name(r.alert.kind));
  line += ' ' + std::to_string(r.alert.old_size);
  line += ' ' + std::to_string(r.alert.new_size);
  // '-' is outside the base64 alphabet: it stands for "no evidence" (an empty answer).
  line += ' ' + (r.alert.note.empty() ? std::string("-") : base64_of(r.alert.note));
  line += '\n';
  return line;
}

template <class Int> std::optional<Int> parse_decimal(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  Int v{};
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view s) {
  const bool negative = !s.empty() && s[0] == '-';
  const auto ms = parse_decimal<std::int64_t>(negative ? s.substr(1) : s);
  // The clock counts finer than milliseconds: a time it cannot hold is damage, not a time.
  constexpr auto kMaxMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::duration::max())
                              .count();
  if (!ms || *ms > kMaxMs) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(negative ? -*ms : *ms));
}

std::optional<WitnessAlertKind> parse_kind(std::string_view s) {
  for (const auto k :
       {WitnessAlertKind::bad_signature, WitnessAlertKind::wrong_log, WitnessAlertKind::shrunk,
        WitnessAlertKind::forked, WitnessAlertKind::bad_proof}) {
    if (alert_kind_name(k) == s) return k;
  }
  return std::nullopt;
}

// Splits at single spaces into exactly `n` non-empty fields.
std::optional<std::vector<std::string_view>> fields(std::string_view line, std::size_t n) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const auto sp = line.find(' ', start);
    parts.push_back(line.substr(start, sp == std::string_view::npos ? sp : sp - start));
    if (parts.back().empty() || parts.size() > n) return std::nullopt;
    if (sp == std::string_view::npos) break;
    start = sp + 1;
  }
  if (parts.size() != n) return std::nullopt;
  return parts;
}

// One line (without its '\n') is either record; anything else is damage.
struct ParsedLine {
  std::optional<ArchivedCheckpoint> checkpoint;
  std::optional<ArchivedAlert> alert;
};

std::optional<ParsedLine> parse_line(std::string_view line) {
  ParsedLine out;
  if (line.substr(0, kAlertTag.size() + 1) == std::string(kAlertTag) + " ") {
    const auto p = fields(line, 6);
    if (!p) return std::nullopt;
    const auto& f = *p;
    const auto seen = parse_time(f[1]);
    const auto kind = parse_kind(f[2]);
    const auto old_size = parse_decimal<std::uint64_t>(f[3]);
    const auto new_size = parse_decimal<std::uint64_t>(f[4]);
    std::string note;
    if (f[5] != "-") {
      auto bytes = crypto::from_base64(f[5]);
      if (!bytes || bytes->empty()) return std::nullopt;
      note.assign(bytes->begin(), bytes->end());
    }
    if (!seen || !kind || !old_size || !new_size) return std::nullopt;
    out.alert = ArchivedAlert{*seen, WitnessAlert{*kind, *old_size, *new_size, std::move(note)}};
    return out;
  }
  const auto p = fields(line, 5);
  if (!p || (*p)[0] != kRecordTag) return std::nullopt;
  const auto& f = *p;
  const auto seen = parse_time(f[1]);
  const auto size = parse_decimal<std::uint64_t>(f[2]);
  auto root = crypto::from_base64(f[3]);
  auto note = crypto::from_base64(f[4]);
  if (!seen || !size || !root || root->size() != crypto::kHashSize || !note) return std::nullopt;
  ArchivedCheckpoint r;
  r.seen_at = *seen;
  r.size = *size;
  std::copy(root->begin(), root->end(), r.root.begin());
  r.note.assign(note->begin(), note->end());
  out.checkpoint = std::move(r);
  return out;
}

// Reads the whole file (the archive grows by ~400 bytes per new checkpoint).
WitnessResult<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return WitnessErrc::archive_failed;
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return WitnessErrc::archive_failed;
  return std::move(s).str();
}

// A file descriptor closed on every path.
class Fd {
 public:
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) (void)::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }
  // close(2) can report a deferred write error: checked where the data matters.
  [[nodiscard]] bool close() noexcept {
    const int fd = std::exchange(fd_, -1);
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool fsync_directory(const std::filesystem::path& dir) {
  Fd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return d.get() >= 0 && ::fsync(d.get()) == 0;
}

// Writes `content` to a temporary file beside `path`, fsyncs it, renames it over `path` and
// fsyncs the directory (the rename is then durable too).
WitnessResult<void> replace_atomically(const std::filesystem::path& path,
                                       std::string_view content) {
  auto tmp = path;
  tmp += ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return WitnessErrc::archive_failed;
    if (!write_all(fd.get(), content) || ::fsync(fd.get()) != 0 || !fd.close()) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      return WitnessErrc::archive_failed;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return WitnessErrc::archive_failed;
  }
  if (!fsync_directory(path.parent_path())) return WitnessErrc::archive_failed;
  return {};
}

// ---------------------------------------------------------------------------------------------
// Checks.

WitnessAlert make_alert(WitnessAlertKind kind, std::uint64_t old_size, std::uint64_t new_size,
                        std::string_view note) {
  return WitnessAlert{kind, old_size, new_size, std::string(note.substr(0, kMaxAlertEvidence))};
}

WitnessReport alert_report(std::optional<ArchivedCheckpoint> newest, WitnessAlert alert) {
  WitnessReport r;
  r.status = WitnessReport::Status::alert;
  r.accepted = std::move(newest);
  r.alert = std::move(alert);
  return r;
}

bool is_server_error(int status) {
  return status >= 500 && status <= 599;
}

}  // namespace

const boost::system::error_category& witness_category() noexcept {
  static const WitnessCategory category;
  return category;
}

boost::system::error_code make_error_code(WitnessErrc e) noexcept {
  return {static_cast<int>(e), witness_category()};
}

// ---------------------------------------------------------------------------------------------

namespace {

// Calls on_line for every complete record after the header, in order; returns the number of
// bytes of intact records (header included). A last line without '\n' (a torn append) is not
// passed on; any other line that does not parse is archive_corrupt.
template <class OnLine>
WitnessResult<std::size_t> scan_archive(std::string_view text, const OnLine& on_line) {
  if (text.substr(0, kArchiveHeader.size()) != kArchiveHeader) return WitnessErrc::archive_corrupt;
  std::size_t intact = kArchiveHeader.size();
  std::string_view rest = text.substr(intact);
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) break;
    auto line = parse_line(rest.substr(0, nl));
    if (!line) return WitnessErrc::archive_corrupt;
    if (auto ok = on_line(std::move(*line)); !ok) return ok.error();
    intact += nl + 1;
    rest.remove_prefix(nl + 1);
  }
  return intact;
}

template <class T> void keep_last(std::deque<T>& window, T item, std::size_t limit) {
  window.push_back(std::move(item));
  if (window.size() > limit) window.pop_front();
}

}  // namespace

WitnessResult<FileCheckpointArchive> FileCheckpointArchive::open(std::filesystem::path path) {
  if (path.empty() || !path.has_filename()) return WitnessErrc::invalid_argument;
  FileCheckpointArchive archive(std::move(path));
  std::error_code ec;
  const auto status = std::filesystem::symlink_status(archive.path_, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) return WitnessErrc::archive_failed;
  if (!std::filesystem::exists(status)) {
    if (auto made = replace_atomically(archive.path_, kArchiveHeader); !made) return made.error();
    return archive;
  }
  if (!std::filesystem::is_regular_file(status)) return WitnessErrc::archive_failed;

  auto text = read_file(archive.path_);
  if (!text) return text.error();
  auto intact = scan_archive(*text, [&archive](ParsedLine line) -> WitnessResult<void> {
    if (line.alert) {
      archive.newest_alert_ = std::move(line.alert);
      ++archive.alert_count_;
      return {};
    }
    if (archive.newest_ && line.checkpoint->size < archive.newest_->size) {
      return WitnessErrc::archive_corrupt;
    }
    archive.newest_ = std::move(line.checkpoint);
    ++archive.count_;
    return {};
  });
  if (!intact) return intact.error();
  if (*intact != text->size()) {
    // A crash inside an append left a partial line. It was never reported as appended, so it is
    // dropped; the intact prefix replaces the file in one rename.
    if (auto repaired =
            replace_atomically(archive.path_, std::string_view(*text).substr(0, *intact));
        !repaired) {
      return repaired.error();
    }
  }
  return archive;
}

WitnessResult<void> FileCheckpointArchive::append_line(const std::string& line) {
  Fd fd(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return WitnessErrc::archive_failed;
  if (!write_all(fd.get(), line) || ::fdatasync(fd.get()) != 0 || !fd.close()) {
    return WitnessErrc::archive_failed;
  }
  return {};
}

WitnessResult<std::optional<ArchivedCheckpoint>> FileCheckpointArchive::newest() {
  return newest_;
}

WitnessResult<void> FileCheckpointArchive::append(const ArchivedCheckpoint& record) {
  if (auto ok = append_line(format_record(record)); !ok) return ok.error();
  newest_ = record;
  ++count_;
  return {};
}

WitnessResult<std::vector<ArchivedCheckpoint>> FileCheckpointArchive::recent(std::size_t limit) {
  if (limit == 0) return std::vector<ArchivedCheckpoint>{};
  auto text = read_file(path_);
  if (!text) return text.error();
  std::deque<ArchivedCheckpoint> window;
  auto scanned = scan_archive(*text, [&](ParsedLine line) -> WitnessResult<void> {
    if (line.checkpoint) keep_last(window, std::move(*line.checkpoint), limit);
    return {};
  });
  if (!scanned) return scanned.error();
  return std::vector<ArchivedCheckpoint>(std::make_move_iterator(window.begin()),
                                         std::make_move_iterator(window.end()));
}

WitnessResult<std::optional<ArchivedAlert>> FileCheckpointArchive::newest_alert() {
  return newest_alert_;
}

WitnessResult<void> FileCheckpointArchive::append_alert(const ArchivedAlert& record) {
  if (auto ok = append_line(format_alert(record)); !ok) return ok.error();
  newest_alert_ = record;
  ++alert_count_;
  return {};
}

WitnessResult<std::vector<ArchivedAlert>> FileCheckpointArchive::recent_alerts(std::size_t limit) {
  if (limit == 0) return std::vector<ArchivedAlert>{};
  auto text = read_file(path_);
  if (!text) return text.error();
  std::deque<ArchivedAlert> window;
  auto scanned = scan_archive(*text, [&](ParsedLine line) -> WitnessResult<void> {
    if (line.alert) keep_last(window, std::move(*line.alert), limit);
    return {};
  });
  if (!scanned) return scanned.error();
  return std::vector<ArchivedAlert>(std::make_move_iterator(window.begin()),
                                    std::make_move_iterator(window.end()));
}

// ---------------------------------------------------------------------------------------------

std::string_view alert_kind_name(WitnessAlertKind kind) noexcept {
  switch (kind) {
  case WitnessAlertKind::bad_signature: return "bad-signature";
  case WitnessAlertKind::wrong_log: return "wrong-log";
  case WitnessAlertKind::shrunk: return "shrunk";
  case WitnessAlertKind::forked: return "forked";
  case WitnessAlertKind::bad_proof: return "bad-proof";
  }
  return "unknown";
}

std::string WitnessAlert::describe() const {
  const std::string from = "its tree of " + std::to_string(old_size) + " entries";
  const std::string to = "the one of " + std::to_string(new_size) + " entries";
  switch (kind) {
  case WitnessAlertKind::bad_signature:
    return "the log's newest checkpoint is not signed by the pinned log key (last proven tree: " +
           std::to_string(old_size) + " entries)";
  case WitnessAlertKind::wrong_log:
    return "the checkpoint of " + std::to_string(new_size) +
           " entries is signed for another log than the pinned one (last proven tree: " +
           std::to_string(old_size) + " entries)";
  case WitnessAlertKind::shrunk:
    return "the log cannot prove that " + from + " grew into " + to + ": the tree shrank";
  case WitnessAlertKind::forked:
    return "the log cannot prove that " + from + " grew into " + to +
           ": two different trees of the same size were signed (a fork)";
  case WitnessAlertKind::bad_proof:
    return "the log cannot prove that " + from + " grew into " + to +
           ": the consistency proof is missing or does not verify";
  }
  return "unknown witness alert";
}

Witness::Witness(crypto::NoteVerifierKey log_key, CheckpointArchive& archive,
                 std::function<std::chrono::system_clock::time_point()> clock)
    : key_(std::move(log_key)), archive_(archive), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
}

WitnessResult<crypto::NoteVerifierKey> Witness::parse_log_key(std::string_view verifier_key_text) {
  auto key = crypto::parse_verifier_key(verifier_key_text);
  if (!key) return WitnessErrc::invalid_argument;
  return std::move(*key);
}

WitnessResult<WitnessReport> Witness::observe(std::string_view note,
                                              const ConsistencyProofSource& proofs) {
  auto newest = archive_.newest();
  if (!newest) return newest.error();
  const std::uint64_t old_size = *newest ? (*newest)->size : 0;
  // An alert is kept once: a log that keeps serving the same refused checkpoint does not grow
  // the archive at every round.
  auto refuse = [this](std::optional<ArchivedCheckpoint> last,
                       WitnessAlert alert) -> WitnessResult<WitnessReport> {
    auto kept = archive_.newest_alert();
    if (!kept) return kept.error();
    if (!*kept || (*kept)->alert != alert) {
      if (auto stored = archive_.append_alert(ArchivedAlert{clock_(), alert}); !stored) {
        return stored.error();
      }
    }
    return alert_report(std::move(last), std::move(alert));
  };
  // The archive is the witness's memory: a record that the pinned key did not sign, or whose
  // size and root are not the note's, means the file was changed behind the console's back.
  if (*newest) {
    auto kept = crypto::verify_checkpoint((*newest)->note, key_.key, key_.name, key_.name);
    if (!kept || kept->size != (*newest)->size || kept->root != (*newest)->root) {
      return WitnessErrc::archive_corrupt;
    }
  }

  // 1. The signature by the pinned key, and the origin (key name = origin, as sluisd signs).
  auto cp = crypto::verify_checkpoint(note, key_.key, key_.name, key_.name);
  if (!cp) {
    if (cp.error() == crypto::Errc::authentication_failed) {
      // Validly signed by our key for another origin: its size is authentic, so name it.
      std::uint64_t size = 0;
      if (auto text = crypto::open_note(note, key_)) {
        if (auto body = crypto::parse_checkpoint_body(*text)) size = body->size;
      }
      auto alert = make_alert(WitnessAlertKind::wrong_log, old_size, size, note);
      return refuse(std::move(*newest), std::move(alert));
    }
    auto alert = make_alert(WitnessAlertKind::bad_signature, old_size, 0, note);
    return refuse(std::move(*newest), std::move(alert));
  }

  ArchivedCheckpoint candidate{clock_(), cp->size, cp->root, std::string(note)};
  auto accept = [&](WitnessReport::Status status) -> WitnessResult<WitnessReport> {
    if (auto stored = archive_.append(candidate); !stored) return stored.error();
    WitnessReport r;
    r.status = status;
    r.accepted = std::move(candidate);
    return r;
  };

  // 2. Trust on first use: nothing to be consistent with yet.
  if (!*newest) return accept(WitnessReport::Status::first);
  const ArchivedCheckpoint& last = **newest;

  // 3. Compare with the newest proven checkpoint.
  if (cp->size < last.size) {
    auto alert = make_alert(WitnessAlertKind::shrunk, last.size, cp->size, note);
    return refuse(std::move(*newest), std::move(alert));
  }
  if (cp->size == last.size) {
    if (cp->root != last.root) {
      auto alert = make_alert(WitnessAlertKind::forked, last.size, cp->size, note);
      return refuse(std::move(*newest), std::move(alert));
    }
    WitnessReport r;
    r.status = WitnessReport::Status::unchanged;
    r.accepted = std::move(*newest);
    return r;
  }

  // 4. A larger tree: RFC 9162 §2.1.4.2 from the newest proven one (an empty old tree is a
  //    prefix of every tree; verify_consistency checks its root is MTH({}) with an empty proof).
  auto proof = proofs(last.size, cp->size);
  if (!proof) return proof.error();
  if (!*proof || !crypto::verify_consistency(last.size, cp->size, last.root, cp->root, **proof)) {
    auto alert = make_alert(WitnessAlertKind::bad_proof, last.size, cp->size, note);
    return refuse(std::move(*newest), std::move(alert));
  }
  return accept(WitnessReport::Status::grew);
}

// ---------------------------------------------------------------------------------------------

std::optional<std::vector<crypto::Hash>>
parse_consistency_proof(std::string_view json, std::uint64_t from, std::uint64_t to) {
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 4;
  const auto value = boost::json::parse(json, ec, {}, opts);
  if (ec || !value.is_object()) return std::nullopt;
  const auto& obj = value.as_object();
  if (obj.size() != 3) return std::nullopt;
  const auto* f = obj.if_contains("from");
  const auto* t = obj.if_contains("to");
  const auto* p = obj.if_contains("path");
  if (f == nullptr || t == nullptr || p == nullptr || !p->is_array()) return std::nullopt;
  auto as_u64 = [](const boost::json::value& v) -> std::optional<std::uint64_t> {
    if (v.is_uint64()) return v.as_uint64();
    if (v.is_int64() && v.as_int64() >= 0) return static_cast<std::uint64_t>(v.as_int64());
    return std::nullopt;
  };
  if (as_u64(*f) != from || as_u64(*t) != to) return std::nullopt;
  const auto& path = p->as_array();
  if (path.size() > crypto::kMaxProofHashes) return std::nullopt;
  std::vector<crypto::Hash> out;
  out.reserve(path.size());
  for (const auto& h : path) {
    if (!h.is_string()) return std::nullopt;
    auto bytes = crypto::from_base64(std::string_view(h.as_string()));
    if (!bytes || bytes->size() != crypto::kHashSize) return std::nullopt;
    crypto::Hash hash{};
    std::copy(bytes->begin(), bytes->end(), hash.begin());
    out.push_back(hash);
  }
  return out;
}

WitnessResult<WitnessReport> witness_once(const ApiClient& client, const std::string& worker,
                                          Witness& witness) {
  ApiRequest get;
  get.target = "/v1/audit/checkpoint";
  get.worker = worker;
  auto answer = client.call(get);
  if (!answer || answer->status != 200) return WitnessErrc::log_unreachable;

  const ConsistencyProofSource proofs =
      [&](std::uint64_t from,
          std::uint64_t to) -> WitnessResult<std::optional<std::vector<crypto::Hash>>> {
    ApiRequest req;
    req.target =
        "/v1/audit/proofs/consistency?from=" + std::to_string(from) + "&to=" + std::to_string(to);
    req.worker = worker;
    auto res = client.call(req);
    if (!res || is_server_error(res->status)) return WitnessErrc::log_unreachable;
    if (res->status != 200) return std::optional<std::vector<crypto::Hash>>{};
    return parse_consistency_proof(res->body, from, to);
  };
  return witness.observe(answer->body, proofs);
}

}  // namespace sluis::console
