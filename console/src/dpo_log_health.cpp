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
  return d;
}

}  // namespace sluis::console
