// The console's witness of sluisd's audit log, run on a timer and on the DPO's page visits.
#include "witness_timer.hpp"

#include <exception>
#include <utility>

namespace sluis::console {

namespace {

namespace gw = sluis::server;

/// The kind as a literal for the log (the log takes literals only, never run-time text).
gw::LogLiteral kind_literal(WitnessAlertKind kind) noexcept {
  switch (kind) {
  case WitnessAlertKind::bad_signature: return "bad-signature";
  case WitnessAlertKind::wrong_log: return "wrong-log";
  case WitnessAlertKind::shrunk: return "shrunk";
  case WitnessAlertKind::forked: return "forked";
  case WitnessAlertKind::bad_proof: return "bad-proof";
  }
  return "unknown";
}

constexpr std::size_t kCheckpointsShown = 10;
constexpr std::size_t kAlertsShown = 20;

}  // namespace

WitnessTimer::WitnessTimer(const ConsoleConfig& config,
                           const std::map<std::string, ApiClient, std::less<>>& clients)
    : config_(config), clients_(clients) {}

WitnessTimer::~WitnessTimer() {
  stop();
}

void WitnessTimer::start(std::shared_ptr<gw::LogSink> log) {
  const ServedPartner* partner = config_.witness_partner();
  {
    std::lock_guard lock(mutex_);
    log_ = std::move(log);
    if (config_.audit_verifier_key.empty() || partner == nullptr ||
        !clients_.contains(partner->id)) {
      if (log_) {
        log_->event(gw::LogLevel::warn, "witness_off",
                    config_.audit_verifier_key.empty() ? gw::LogLiteral("no audit_verifier_key")
                                                       : gw::LogLiteral("no served partner"));
      }
      return;
    }
    timer_on_ = true;
    if (log_) {
      log_->event(
          gw::LogLevel::info, "witness_on", "",
          {{"interval_seconds", static_cast<std::uint64_t>(config_.witness.interval.count())}});
    }
  }
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void WitnessTimer::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();  // wakes the wait below (condition_variable_any with the stop token)
  thread_.join();
}

void WitnessTimer::run(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    round();
    std::unique_lock lock(wake_mutex_);
    // Nothing but a stop ends the wait early: the predicate never holds.
    (void)wake_.wait_for(lock, stop, config_.witness.interval, [] { return false; });
  }
}

void WitnessTimer::round() {
  std::lock_guard lock(mutex_);
  try {
    round_locked();
  } catch (const std::exception&) {
    // Only an allocation can throw here (the witness and the client answer with error codes).
    // The timer goes on: the next round may succeed.
    last_round_ = WitnessRound{std::chrono::system_clock::now(), WitnessRound::Outcome::archive};
    if (log_) log_->event(gw::LogLevel::error, "witness_round_failed", "exception");
  }
}

void WitnessTimer::round_locked() {
  using O = WitnessRound::Outcome;
  O outcome = O::ok;
  const ServedPartner* partner = config_.witness_partner();
  const auto client = clients_.find(partner->id);  // checked by start()
  if (!open_locked()) {
    outcome = O::archive;
  } else if (auto report = observe_locked(client->second, config_.witness.worker); !report) {
    outcome = report.error() == WitnessErrc::log_unreachable ? O::unreachable : O::archive;
  } else if (report->status == WitnessReport::Status::alert) {
    outcome = O::alert;
  }

  if (outcome == O::unreachable) {
    if (!outage_logged_ && log_) log_->event(gw::LogLevel::warn, "witness_unreachable");
    outage_logged_ = true;
  } else if (outcome == O::ok || outcome == O::alert) {
    if (outage_logged_ && log_) log_->event(gw::LogLevel::info, "witness_reachable");
    outage_logged_ = false;
  }
  if (outcome == O::archive) {
    if (!archive_failure_logged_ && log_) {
      log_->event(gw::LogLevel::error, "witness_archive_failed");
    }
    archive_failure_logged_ = true;
  } else if (outcome != O::unreachable) {
    archive_failure_logged_ = false;
  }
  last_round_ = WitnessRound{std::chrono::system_clock::now(), outcome};
}

bool WitnessTimer::open_locked() {
  if (witness_) return true;
  auto key = Witness::parse_log_key(config_.audit_verifier_key);
  if (!key) return false;
  auto archive = FileCheckpointArchive::open(config_.database.parent_path() / "witness.log");
  if (!archive) return false;
  archive_.emplace(std::move(*archive));
  witness_.emplace(std::move(*key), *archive_);
  return true;
}

WitnessResult<WitnessReport> WitnessTimer::observe_locked(const ApiClient& client,
                                                          const std::string& worker) {
  // The archive keeps an alert once (Witness::observe): it is new when it is not the newest
  // one kept before this round — also across restarts, since the archive is the memory.
  std::optional<ArchivedAlert> before;
  if (auto kept = archive_->newest_alert()) before = std::move(*kept);
  auto report = witness_once(client, worker, *witness_);
  if (report && report->status == WitnessReport::Status::alert && report->alert &&
      (!before || before->alert != *report->alert)) {
    log_alert_locked(*report->alert);
  }
  return report;
}

void WitnessTimer::log_alert_locked(const WitnessAlert& alert) {
  if (!log_) return;
  log_->event(gw::LogLevel::error, "witness_alert", kind_literal(alert.kind),
              {{"old_size", alert.old_size}, {"new_size", alert.new_size}});
}

LogHealthView WitnessTimer::visit(const ApiClient* client, const std::string& worker) {
  std::lock_guard lock(mutex_);
  LogHealthView view;
  view.configured = !config_.audit_verifier_key.empty();
  view.timer_on = timer_on_;
  view.interval = config_.witness.interval;
  view.last_round = last_round_;
  if (!view.configured) return view;
  if (!open_locked()) {
    view.problem = LogHealthView::Problem::archive;
    return view;
  }
  if (client == nullptr) {
    view.problem = LogHealthView::Problem::unreachable;
  } else if (auto report = observe_locked(*client, worker)) {
    view.check = std::move(*report);
  } else {
    view.problem = report.error() == WitnessErrc::log_unreachable
                       ? LogHealthView::Problem::unreachable
                       : LogHealthView::Problem::archive;
  }
  if (auto cps = archive_->recent(kCheckpointsShown)) view.checkpoints = std::move(*cps);
  if (auto alerts = archive_->recent_alerts(kAlertsShown)) view.alerts = std::move(*alerts);
  return view;
}

std::optional<WitnessRound> WitnessTimer::last_round() {
  std::lock_guard lock(mutex_);
  return last_round_;
}

}  // namespace sluis::console
