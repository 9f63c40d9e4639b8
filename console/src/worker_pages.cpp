// The worker's console pages: my clients, registration, the client's dossier, fragments,
// consent and its receipt, withdrawal, break-the-glass, the access report.
#include "page_kit.hpp"

namespace sluis::console {

void add_worker_pages(gw::Router& router, PageKit& kit) {
  (void)router;
  (void)kit;
}

}  // namespace sluis::console
