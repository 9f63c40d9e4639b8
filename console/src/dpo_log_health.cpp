// The DPO's log-health page data: the witness's checkpoints and alerts as template values.
#include "dpo_log_health.hpp"

#include "page_kit.hpp"

#include <chrono>

namespace sluis::console {

namespace {

UnixSeconds seconds_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

/// One flag per kind (kind_bad_signature, kind_forked, ...): the template words each.
void set_kind(TemplateData& d, WitnessAlertKind kind) {
  for (const auto k : {WitnessAlertKind::bad_signature, WitnessAlertKind::wrong_log,
                       WitnessAlertKind::shrunk, WitnessAlertKind::forked,
                       WitnessAlertKind::bad_proof}) {
    std::string name = "kind_";
    for (const char c : alert_kind_name(k))
      name += c == '-' ? '_' : c;
    d.set_flag(std::move(name), k == kind);
  }
}

TemplateData alert_data(const ArchivedAlert& a) {
  TemplateData d;
  d.set("seen_at", utc_time(seconds_of(a.seen_at)));
  d.set("old_size", std::to_string(a.alert.old_size));
  d.set("new_size", std::to_string(a.alert.new_size));
  set_kind(d, a.alert.kind);
  d.set("evidence", a.alert.note);
  return d;
}

}  // namespace

TemplateData log_health_data(const LogHealthView& view) {
  TemplateData d;
  d.set_flag("configured", view.configured);
  const bool refused = view.check && view.check->status == WitnessReport::Status::alert;
  const bool any_alert = refused || !view.alerts.empty();
  d.set_flag("alert", any_alert);
  d.set_flag("healthy", view.configured && view.check && !any_alert);
  d.set_flag("unchecked", view.configured && !view.check);
  d.set_flag("problem_archive", view.problem == LogHealthView::Problem::archive);
  // The red alert names the newest refusal: this visit's, else the newest one kept.
  std::optional<ArchivedAlert> newest;
  if (refused && view.check->alert) {
    newest = ArchivedAlert{std::chrono::system_clock::now(), *view.check->alert};
  } else if (!view.alerts.empty()) {
    newest = view.alerts.back();
  }
  if (newest) {
    d.set_object("newest_alert", alert_data(*newest));
  } else {
    d.set_flag("newest_alert", false);
  }
  if (view.check && view.check->accepted) {
    TemplateData a;
    a.set("size", std::to_string(view.check->accepted->size));
    a.set("seen_at", utc_time(seconds_of(view.check->accepted->seen_at)));
    d.set_object("accepted", std::move(a));
  } else {
    d.set_flag("accepted", false);
  }
  std::vector<TemplateData> cps;
  for (auto it = view.checkpoints.rbegin(); it != view.checkpoints.rend(); ++it) {
    TemplateData c;
    c.set("size", std::to_string(it->size));
    c.set("seen_at", utc_time(seconds_of(it->seen_at)));
    cps.push_back(std::move(c));
  }
  d.set_flag("has_checkpoints", !cps.empty());
  d.set_list("checkpoints", std::move(cps));
  std::vector<TemplateData> alerts;
  for (auto it = view.alerts.rbegin(); it != view.alerts.rend(); ++it)
    alerts.push_back(alert_data(*it));
  d.set_flag("has_alerts", !alerts.empty());
  d.set_list("alerts", std::move(alerts));
  // The timer: how often it checks, and how its last round ended.
  d.set_flag("timer_on", view.configured && view.timer_on);
  const auto every = view.interval.count();
  const bool in_minutes = every > 0 && every % 60 == 0;
  d.set_flag("interval_in_minutes", in_minutes);
  d.set("interval", std::to_string(in_minutes ? every / 60 : every));
  d.set_flag("has_last_round", view.configured && view.last_round);
  if (view.configured && view.last_round) {
    using O = WitnessRound::Outcome;
    const O o = view.last_round->outcome;
    TemplateData r;
    r.set("at", utc_time(seconds_of(view.last_round->at)));
    r.set_flag("round_ok", o == O::ok).set_flag("round_unreachable", o == O::unreachable);
    r.set_flag("round_alert", o == O::alert).set_flag("round_archive", o == O::archive);
    d.set_object("last_round", std::move(r));
  } else {
    d.set_flag("last_round", false);
  }
  return d;
}

}  // namespace sluis::console
