// The low-threshold service's console pages: cards (issued and read in the browser), anonymous
// guests, links, card replacement.
#include "page_kit.hpp"

namespace sluis::console {

void add_lowthreshold_pages(gw::Router& router, PageKit& kit) {
  (void)router;
  (void)kit;
}

}  // namespace sluis::console
