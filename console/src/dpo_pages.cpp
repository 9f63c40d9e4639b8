// The partner DPO's console pages: audit events, the break-the-glass review queue, access
// requests, charts, the log's health (witness).
#include "page_kit.hpp"

namespace sluis::console {

void add_dpo_pages(gw::Router& router, PageKit& kit) {
  (void)router;
  (void)kit;
}

}  // namespace sluis::console
