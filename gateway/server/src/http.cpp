// Strict request-target decoding, header checks and the socket-free parse_http_request.
#include "sluis/server/http.hpp"

#include "http_internal.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <algorithm>

namespace sluis::server {

namespace http = boost::beast::http;

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// What a decoded byte may be: a path segment or query key must not gain a separator or a second
/// escape by decoding; a query value is data (a worker id may hold '%' or '/'), so it may decode
/// to any printable ASCII byte and the space. Controls and non-ASCII stay refused everywhere.
enum class Decoded { segment, query_value };

/// Percent-decodes `in`; refuses bad escapes and decoded bytes `what` does not allow.
bool percent_decode(std::string_view in, Decoded what, std::string& out) {
  const bool value = what == Decoded::query_value;
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      const int v = hi * 16 + lo;
      const bool refused = v == 0x20 ? !value
                                     : (v < 0x21 || v > 0x7e ||
                                        (!value && (v == '/' || v == '\\' || v == '%')));
      if (refused) return false;
      c = static_cast<char>(v);
      i += 2;
    }
    out.push_back(c);
  }
  return true;
}

bool printable_ascii(std::string_view s, bool allow_space) noexcept {
  return std::all_of(s.begin(), s.end(), [allow_space](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u > 0x20 && u < 0x7f) || (allow_space && (u == 0x20 || u == '\t'));
  });
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// True for `application/json` or `application/<x>+json`, any parameters.
bool is_json_media_type(std::string_view content_type) noexcept {
  const std::string_view media = trim_ows(content_type.substr(0, content_type.find(';')));
  if (iequals(media, "application/json")) return true;
  constexpr std::string_view kApp = "application/";
  constexpr std::string_view kSuffix = "+json";
  return media.size() > kApp.size() + kSuffix.size() &&
         iequals(media.substr(0, kApp.size()), kApp) &&
         iequals(media.substr(media.size() - kSuffix.size()), kSuffix);
}

constexpr http::field kSelected[] = {http::field::content_type, http::field::accept,
                                     http::field::accept_language};
constexpr std::string_view kSelectedCustom[] = {"Sluis-Worker", "Sluis-Purpose", "X-Request-Id"};
// Selected only in browser mode (the web console); Host is checked for duplicates always.
constexpr std::string_view kSelectedBrowser[] = {"Cookie", "Origin", "Sec-Fetch-Site"};

/// True for `application/x-www-form-urlencoded`, any parameters (browser mode only).
bool is_form_media_type(std::string_view content_type) noexcept {
  return iequals(trim_ows(content_type.substr(0, content_type.find(';'))),
                 "application/x-www-form-urlencoded");
}

boost::system::error_code err(ServerErrc e) {
  return make_error_code(e);
}

ServerResult<std::optional<std::string>> selected_value(const detail::BeastHeader& header,
                                                        std::string_view name,
                                                        std::size_t max_bytes) {
  const auto it = header.find(boost::beast::string_view(name.data(), name.size()));
  if (it == header.end()) return std::optional<std::string>{};
  const auto v = it->value();
  const std::string_view value(v.data(), v.size());
  if (value.empty() || value.size() > max_bytes || !printable_ascii(value, true)) {
    return err(ServerErrc::malformed_request);
  }
  return std::optional<std::string>(std::string(value));
}

}  // namespace

std::optional<std::string_view> HttpRequest::query_param(std::string_view key) const {
  for (const auto& [k, v] : query) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

void HttpBody::wipe() noexcept {
  resize(capacity());  // within the capacity: no reallocation, so nothing else to wipe
  crypto::wipe(std::span<char>(data(), size()));
  clear();
}

void HttpBody::wipe_source(std::string& s) noexcept {
  s.resize(s.capacity());
  crypto::wipe(std::span<char>(s.data(), s.size()));
  s.clear();
}

HttpResponse HttpResponse::json(int status, HttpBody body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

bool is_safe_token(std::string_view value) noexcept {
  if (value.empty() || value.size() > 64) return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '@' || c == '-';
  });
}

ServerResult<void> parse_target(std::string_view target, const RequestLimits& limits,
                                HttpRequest& out) {
  const auto bad = err(ServerErrc::malformed_path);
  if (target.empty() || target.front() != '/' || target.size() > limits.target_bytes ||
      !printable_ascii(target, false) || target.find('#') != std::string_view::npos ||
      target.find('\\') != std::string_view::npos) {  // as %5C below: no raw backslash either
    return bad;
  }
  const std::size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  out.path.assign(path);
  out.segments.clear();
  out.query.clear();
  std::string decoded;
  if (path != "/") {
    std::string_view rest = path.substr(1);
    while (true) {
      const std::size_t slash = rest.find('/');
      const std::string_view raw = rest.substr(0, slash);
      if (raw.empty() || raw == "." || raw == "..") return bad;
      if (!percent_decode(raw, Decoded::segment, decoded)) return bad;
      if (decoded == "." || decoded == ".." || decoded.size() > limits.segment_bytes) return bad;
      if (out.segments.size() >= limits.max_segments) return bad;
      out.segments.push_back(decoded);
      if (slash == std::string_view::npos) break;
      rest = rest.substr(slash + 1);
    }
  }
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  if (query.empty()) return {};
  while (true) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    std::string key;
    std::string value;
    if (!percent_decode(pair.substr(0, eq), Decoded::segment, key) || key.empty() ||
        key.size() > limits.segment_bytes) {
      return bad;
    }
    if (eq != std::string_view::npos &&
        (!percent_decode(pair.substr(eq + 1), Decoded::query_value, value) ||
         value.size() > limits.header_value_bytes)) {
      return bad;
    }
    for (const auto& existing : out.query) {
      if (existing.first == key) return bad;  // duplicates are ambiguous: refuse
    }
    if (out.query.size() >= limits.max_query_params) return bad;
    out.query.emplace_back(std::move(key), std::move(value));
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return {};
}

namespace detail {

ServerResult<void> check_request_header(const BeastHeader& header,
                                        std::optional<std::uint64_t> content_length, bool chunked,
                                        const RequestLimits& limits) {
  if (header.version() != 11 && header.version() != 10) return err(ServerErrc::malformed_request);
  const std::size_t hosts = header.count(http::field::host);
  if (hosts > 1 || (header.version() == 11 && hosts == 0)) {
    return err(ServerErrc::malformed_request);
  }
  const std::size_t te = header.count(http::field::transfer_encoding);
  const std::size_t cl = header.count(http::field::content_length);
  if ((te > 0 && cl > 0) || te > 1 || cl > 1) return err(ServerErrc::malformed_request);
  if (te == 1) {
    const auto v = header[http::field::transfer_encoding];
    if (!iequals(trim_ows(std::string_view(v.data(), v.size())), "chunked") || !chunked) {
      return err(ServerErrc::malformed_request);
    }
  }
  for (const auto f : kSelected) {
    if (header.count(f) > 1) return err(ServerErrc::malformed_request);
  }
  for (const auto name : kSelectedCustom) {
    if (header.count(boost::beast::string_view(name.data(), name.size())) > 1) {
      return err(ServerErrc::malformed_request);
    }
  }
  if (limits.browser) {
    for (const auto name : kSelectedBrowser) {
      if (header.count(boost::beast::string_view(name.data(), name.size())) > 1) {
        return err(ServerErrc::malformed_request);
      }
    }
  }
  const auto verb = header.method();
  const bool body_method =
      verb == http::verb::post || verb == http::verb::put || verb == http::verb::patch;
  if (body_method && !content_length && !chunked) return err(ServerErrc::length_required);
  if (content_length && *content_length > limits.body_bytes) {
    return err(ServerErrc::body_too_large);
  }
  const bool has_body = chunked || (content_length && *content_length > 0);
  if (has_body) {
    const auto ct = header[http::field::content_type];
    const std::string_view media(ct.data(), ct.size());
    if (!is_json_media_type(media) && !(limits.browser && is_form_media_type(media))) {
      return err(ServerErrc::unsupported_media_type);
    }
  }
  return {};
}

ServerResult<HttpRequest> build_request(BeastRequest& message, const RequestLimits& limits) {
  HttpRequest req;
  const auto method = message.method_string();
  req.method.assign(method.data(), method.size());
  if (req.method.empty() || !printable_ascii(req.method, false)) {
    return err(ServerErrc::malformed_request);
  }
  const auto target = message.target();
  if (auto r = parse_target(std::string_view(target.data(), target.size()), limits, req); !r) {
    return r.error();
  }
  struct Pick {
    std::string_view name;
    std::optional<std::string>* slot;
    std::size_t max_bytes;
  };
  const std::size_t n = limits.header_value_bytes;
  const Pick picks[] = {{"Sluis-Worker", &req.worker, n},
                        {"Sluis-Purpose", &req.purpose, n},
                        {"Content-Type", &req.content_type, n},
                        {"Accept", &req.accept, n},
                        {"Accept-Language", &req.accept_language, n},
                        {"X-Request-Id", &req.client_request_id, n}};
  for (const auto& pick : picks) {
    auto v = selected_value(message.base(), pick.name, pick.max_bytes);
    if (!v) return v.error();
    *pick.slot = std::move(*v);
  }
  if (limits.browser) {
    const Pick browser_picks[] = {{"Cookie", &req.cookie, limits.cookie_bytes},
                                  {"Origin", &req.origin, n},
                                  {"Sec-Fetch-Site", &req.sec_fetch_site, n},
                                  {"Host", &req.host, n}};
    for (const auto& pick : browser_picks) {
      auto v = selected_value(message.base(), pick.name, pick.max_bytes);
      if (!v) return v.error();
      *pick.slot = std::move(*v);
    }
  }
  if (req.client_request_id && !is_safe_token(*req.client_request_id)) {
    return err(ServerErrc::malformed_request);
  }
  req.body = std::move(message.body());
  return req;
}

}  // namespace detail

ServerResult<HttpRequest> parse_http_request(std::string_view raw, const RequestLimits& limits) {
  try {
    detail::BeastParser parser;
    parser.header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(limits.header_bytes, UINT32_MAX)));
    parser.body_limit(static_cast<std::uint64_t>(limits.body_bytes));
    parser.eager(false);
    boost::beast::error_code ec;
    auto feed = [&]() {
      while (!raw.empty()) {
        const std::size_t used = parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
        raw.remove_prefix(used);
        if (ec || used == 0) break;
        if (parser.is_header_done()) break;
      }
    };
    feed();
    auto map_ec = [](const boost::beast::error_code& e) {
      if (e == http::error::need_more) return err(ServerErrc::incomplete_request);
      if (e == http::error::header_limit) return err(ServerErrc::headers_too_large);
      if (e == http::error::body_limit) return err(ServerErrc::body_too_large);
      return err(ServerErrc::malformed_request);
    };
    if (ec) return map_ec(ec);
    if (!parser.is_header_done()) return err(ServerErrc::incomplete_request);
    if (auto r = detail::check_request_header(parser.get().base(),
                                              detail::to_std_optional(parser.content_length()),
                                              parser.chunked(), limits);
        !r) {
      return r.error();
    }
    parser.eager(true);
    while (!parser.is_done()) {
      if (raw.empty()) return err(ServerErrc::incomplete_request);
      const std::size_t used = parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
      raw.remove_prefix(used);
      if (ec) return map_ec(ec);
      if (used == 0) return err(ServerErrc::incomplete_request);
    }
    auto message = parser.release();
    return detail::build_request(message, limits);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (...) {
    return err(ServerErrc::malformed_request);
  }
}

std::string_view status_reason(int status) noexcept {
  const auto s = http::obsolete_reason(static_cast<http::status>(status));
  return std::string_view(s.data(), s.size());
}

}  // namespace sluis::server
