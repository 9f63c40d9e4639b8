// The DPO area's pieces other pages use (internal to console/src): its routes, and the admin
// page's list of the partner's workers as sluisd knows them.
#pragma once

#include "page_kit.hpp"

namespace sluis::console {

class WitnessTimer;

/// The DPO's routes. The log-health page observes through `witness` (owned by the app, shared
/// with the daemon's timer), which must outlive the router.
void add_dpo_pages(gw::Router& router, PageKit& kit, WitnessTimer& witness);

/// Adds to `data` (for the partial dpo_admin_workers.html): sluisd_workers (list of {worker,
/// role, active, has_account}), has_sluisd_workers, sluisd_workers_ok (false when sluisd could
/// not say). GET /v1/workers with the admin's own partner certificate: never another partner's.
void add_sluisd_workers(PageKit& kit, Ctx& ctx, TemplateData& data);

}  // namespace sluis::console
