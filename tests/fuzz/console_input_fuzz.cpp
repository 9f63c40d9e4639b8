// Fuzz target: the console's parsers of browser input (http_input.hpp) — form bodies, query
// strings, Cookie headers, static paths — checking what they promise about what they accept:
// limits hold, names are of the field alphabet, values are UTF-8 without forbidden controls,
// refused duplicates never appear, re-encoding a form and parsing it again gives the same fields,
// cookie look-ups never pick one of two copies, and an accepted static path is plain.
//
// Input: any bytes, given whole to every parser (and under tight limits, so the refusal paths are
// reachable with short inputs).
#include "sluis/console/http_input.hpp"
#include "sluis/console/template.hpp"
#include "sluis/console/utf8.hpp"

#include "fuzz_support.hpp"

#include <algorithm>
#include <string>

namespace {

namespace sc = sluis::console;

bool name_ok(const std::string& n) {
  return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

bool value_ok(const std::string& v) {
  return sc::is_valid_utf8(v) && std::none_of(v.begin(), v.end(), [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return (u < 0x20 && c != '\t' && c != '\r' && c != '\n') || u == 0x7f;
         });
}

void check_form(std::string_view in, const sc::FormLimits& limits, sc::DuplicateNames dup) {
  auto f = sc::parse_urlencoded(in, limits, dup);
  if (!f) return;
  SLUIS_FUZZ_CHECK(in.size() <= limits.max_bytes);
  SLUIS_FUZZ_CHECK(f->size() <= limits.max_fields);
  SLUIS_FUZZ_CHECK(in.empty() == (f->size() == 0));
  std::string again;
  for (std::size_t i = 0; i < f->size(); ++i) {
    const auto& [name, value] = f->fields()[i];
    SLUIS_FUZZ_CHECK(name_ok(name) && name.size() <= limits.max_name_bytes);
    SLUIS_FUZZ_CHECK(value_ok(value) && value.size() <= limits.max_value_bytes);
    if (dup == sc::DuplicateNames::refuse) {
      for (std::size_t j = 0; j < i; ++j)
        SLUIS_FUZZ_CHECK(f->fields()[j].first != name);
      SLUIS_FUZZ_CHECK(f->get(name) == std::string_view(value));
    }
    again += (i ? "&" : "") + sc::url_encode(name) + "=" + sc::url_encode(value);
  }
  // Encoded the way a browser would (every byte outside the unreserved set escaped), the fields
  // parse back to themselves.
  sc::FormLimits roomy = limits;
  roomy.max_bytes = again.size() + 1;
  auto back = sc::parse_urlencoded(again, roomy, dup);
  SLUIS_FUZZ_CHECK(back.has_value() && back->fields() == f->fields());
}

void check_cookies(std::string_view in, const sc::CookieLimits& limits) {
  auto c = sc::parse_cookie_header(in, limits);
  if (!c) return;
  SLUIS_FUZZ_CHECK(in.size() <= limits.max_bytes);
  SLUIS_FUZZ_CHECK(c->size() + c->malformed() <= limits.max_cookies);
  // Every name that appears twice in the header is never "found".
  std::size_t start = 0;
  while (start < in.size()) {
    const std::size_t semi = std::min(in.find(';', start), in.size());
    auto pair = in.substr(start, semi - start);
    start = semi + 1;
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t'))
      pair.remove_prefix(1);
    const auto name = pair.substr(0, pair.find('='));
    const auto look = c->find(name);
    if (look.status == sc::Cookies::Status::found) {
      SLUIS_FUZZ_CHECK(std::all_of(look.value.begin(), look.value.end(), [](char ch) {
        const auto u = static_cast<unsigned char>(ch);
        return u > 0x20 && u < 0x7f && ch != '"' && ch != ',' && ch != ';' && ch != '\\';
      }));
      SLUIS_FUZZ_CHECK(look.value.size() <= limits.max_value_bytes);
    }
  }
}

void check_static(std::string_view in) {
  auto p = sc::static_relative_path(in, "/static/");
  if (!p) return;
  SLUIS_FUZZ_CHECK(!p->empty() && p->front() != '/' && p->back() != '/');
  SLUIS_FUZZ_CHECK(p->front() != '.' && p->find("/.") == std::string::npos);
  SLUIS_FUZZ_CHECK(p->find("//") == std::string::npos);
  SLUIS_FUZZ_CHECK(std::all_of(p->begin(), p->end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || c == '/';
  }));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = sluis::fuzz::as_text(data, size);
  check_form(in, sc::FormLimits{}, sc::DuplicateNames::refuse);
  check_form(in, sc::FormLimits{}, sc::DuplicateNames::keep_all);
  sc::FormLimits tight;
  tight.max_bytes = 64;
  tight.max_fields = 3;
  tight.max_name_bytes = 4;
  tight.max_value_bytes = 8;
  check_form(in, tight, sc::DuplicateNames::refuse);
  auto q = sc::parse_query(in, sc::FormLimits{}, sc::DuplicateNames::refuse);
  if (q) SLUIS_FUZZ_CHECK(in.find('#') == std::string_view::npos);
  check_cookies(in, sc::CookieLimits{});
  sc::CookieLimits tight_cookies;
  tight_cookies.max_bytes = 64;
  tight_cookies.max_cookies = 3;
  tight_cookies.max_name_bytes = 4;
  tight_cookies.max_value_bytes = 8;
  check_cookies(in, tight_cookies);
  check_static(in);
  // Escaping: the output of html_escape never holds a character that could end text or a quoted
  // attribute value, or open template syntax.
  const auto escaped = sc::html_escape(in);
  SLUIS_FUZZ_CHECK(escaped.find_first_of("<>\"'`{}") == std::string::npos);
  const auto url = sc::url_encode(in);
  SLUIS_FUZZ_CHECK(url.find_first_not_of(
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%") ==
                   std::string::npos);
  return 0;
}
