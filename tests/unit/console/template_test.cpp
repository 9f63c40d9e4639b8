// The template engine: escaping by default in every kind of value, refusals at load time with
// file and line, render errors instead of empty strings, and the real console templates.
#include "sluis/console/catalogue.hpp"
#include "sluis/console/template.hpp"

#include "result_printer.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sluis::console;

namespace {

const Catalogue& test_catalogue() {
  static const Catalogue c = Catalogue::from_toml(
      "[greeting]\nhello = \"Hello {name} <&> 'friend'\"\nplain = \"Plain\"\n", "en", "test.toml");
  return c;
}

TemplateSet one(const std::string& source) {
  return TemplateSet::from_sources({{"page.html", source}});
}

std::string render(const TemplateSet& set, const TemplateData& data,
                   std::string_view name = "page") {
  auto html = set.render(name, data, test_catalogue());
  REQUIRE(html.has_value());
  return html->str();
}

std::string syntax_error_of(const std::string& source) {
  try {
    (void)one(source);
  } catch (const TemplateSyntaxError& e) {
    return e.what();
  }
  return "";
}

// The strings a worker or the API could put in any field.
const std::vector<std::string> kHostile = {
    "<script>alert(1)</script>",
    "\" onmouseover=\"alert(1)",
    "' onfocus='alert(1)",
    "{{secret}}",
    "</textarea><script>x()</script>",
    "{{html:content}}",
    "`${x}`",
    "a&b",
};

void check_escaped(const std::string& out, const std::string& hostile) {
  INFO(out);
  CHECK(out.find(hostile) == std::string::npos);
  CHECK(out.find("<script>") == std::string::npos);
  // The template's own </textarea> only.
  CHECK(out.find("</textarea>") == out.rfind("</textarea>"));
  CHECK(out.find("{{") == std::string::npos);
  CHECK(out.find('"' + std::string(" onmouseover")) == std::string::npos);
  CHECK(out.find("' onfocus") == std::string::npos);
}

}  // namespace

TEST_CASE("template: html_escape turns every markup character into a reference",
          "[console][template]") {
  CHECK(html_escape("<a href=\"x\" title='y'>&`{{z}}`</a>") ==
        "&lt;a href=&quot;x&quot; "
        "title=&#39;y&#39;&gt;&amp;&#96;&#123;&#123;z&#125;&#125;&#96;&lt;/a&gt;");
  CHECK(html_escape(std::string("a\0b\x1b"
                                "c\td\ne\rf\x7f",
                                12)) == "a\xef\xbf\xbd"
                                        "b\xef\xbf\xbd"
                                        "c\td\ne\rf\xef\xbf\xbd");
  CHECK(html_escape("caf\xc3\xa9 \xe6\xb0\xb4") == "caf\xc3\xa9 \xe6\xb0\xb4");
  CHECK(url_encode("a b/c?d=e&f#g\xc3\xa9~._-") == "a%20b%2Fc%3Fd%3De%26f%23g%C3%A9~._-");
}

TEST_CASE("template: hostile values come back escaped in every kind of value",
          "[console][template]") {
  const auto set = TemplateSet::from_sources({
      {"page.html",
       "<title>{{v}}</title>\n<p>{{v}}</p>\n<input value=\"{{v}}\">\n<input value='{{v}}'>\n"
       "<textarea name=\"n\">{{v}}</textarea>\n<p>{{t:greeting.hello}}</p>\n"
       "{{#items}}<li data-x=\"{{v}}\">{{v}}</li>{{/items}}\n{{#obj}}<b>{{v}}</b>{{/obj}}\n"
       "<p>{{obj.v}}</p>\n<a href=\"/clients/{{u:v}}?q={{u:v}}\">x</a>\n{{>part}}\n"},
      {"part.html", "<em title=\"{{v}}\">{{v}}</em>"},
  });
  for (const auto& hostile : kHostile) {
    TemplateData item;
    item.set("v", hostile);
    TemplateData data;
    data.set("v", hostile).set("name", hostile);
    data.set_list("items", {item, item});
    data.set_object("obj", item);
    const auto out = render(set, data);
    check_escaped(out, hostile);
    // And the value is there, escaped (it was not dropped).
    CHECK(out.find(html_escape(hostile)) != std::string::npos);
  }
  // Exact forms.
  TemplateData data;
  data.set("v", "<script>\"'{{x}}</textarea>").set("name", "<b>");
  data.set_list("items", {});
  data.set_object("obj", TemplateData{}.set("v", "'"));
  const auto out = render(set, data);
  CHECK(out.find("<p>&lt;script&gt;&quot;&#39;&#123;&#123;x&#125;&#125;&lt;/textarea&gt;</p>") !=
        std::string::npos);
  CHECK(out.find("<textarea "
                 "name=\"n\">&lt;script&gt;&quot;&#39;&#123;&#123;x&#125;&#125;&lt;/textarea&gt;</"
                 "textarea>") != std::string::npos);
  // The catalogue's own text is escaped too, and its placeholder value.
  CHECK(out.find("<p>Hello &lt;b&gt; &lt;&amp;&gt; &#39;friend&#39;</p>") != std::string::npos);
  CHECK(out.find("href=\"/clients/%3Cscript%3E%22%27%7B%7Bx%7D%7D%3C%2Ftextarea%3E?q=") !=
        std::string::npos);
}

TEST_CASE("template: values are never re-read as template syntax", "[console][template]") {
  const auto set = one("<p>{{a}}</p>");
  TemplateData data;
  data.set("a", "{{b}}").set("b", "SECRET");
  const auto out = render(set, data);
  CHECK(out == "<p>&#123;&#123;b&#125;&#125;</p>");
}

TEST_CASE("template: raw insertion takes only fragments the engine rendered",
          "[console][template]") {
  const auto set = TemplateSet::from_sources(
      {{"outer.html", "<main>{{html:content}}</main>"}, {"inner.html", "<p>{{v}}</p>"}});
  TemplateData inner;
  inner.set("v", "<i>");
  auto fragment = set.render("inner", inner, test_catalogue());
  REQUIRE(fragment.has_value());
  TemplateData outer;
  outer.set_html("content", *fragment);
  CHECK(render(set, outer, "outer") == "<main><p>&lt;i&gt;</p></main>");
  // A string where a fragment is expected: refused, not inserted.
  TemplateData text;
  text.set("content", "<script>alert(1)</script>");
  std::string where;
  const auto refused = set.render("outer", text, test_catalogue(), where);
  CHECK(refused.error() == TemplateErrc::wrong_kind);
  CHECK(where == "outer.html:1: content");
  // And a fragment where text is expected is refused too (no double meaning).
  const auto set2 = one("<p>{{v}}</p>");
  TemplateData f;
  f.set_html("v", *fragment);
  CHECK(set2.render("page", f, test_catalogue()).error() == TemplateErrc::wrong_kind);
}

TEST_CASE("template: sections, lists, conditions and scopes", "[console][template]") {
  const auto set = one("{{#rows}}[{{name}}:{{#on}}on{{/on}}{{^on}}off{{/on}}:{{title}}]{{/rows}}"
                       "{{^rows}}none{{/rows}}{{#who}}({{name}}){{/who}}");
  TemplateData a, b;
  a.set("name", "a").set_flag("on", true);
  b.set("name", "b").set_flag("on", false).set("title", "own");
  TemplateData data;
  data.set("title", "outer").set_list("rows", {a, b});
  data.set_object("who", TemplateData{}.set("name", "w"));
  CHECK(render(set, data) == "[a:on:outer][b:off:own](w)");
  data.set_list("rows", {});
  CHECK(render(set, data) == "none(w)");
}

TEST_CASE("template: a missing or mistyped value is an error, never an empty string",
          "[console][template]") {
  const auto set = one("<p>{{a}}</p>\n<p>{{b.c}}</p>{{#l}}x{{/l}}");
  std::string where;
  TemplateData data;
  data.set("b", "text").set_list("l", {});
  auto r = set.render("page", data, test_catalogue(), where);
  CHECK(r.error() == TemplateErrc::missing_value);
  CHECK(where == "page.html:1: a");
  data.set("a", "");
  r = set.render("page", data, test_catalogue(), where);
  CHECK(r.error() == TemplateErrc::wrong_kind);  // b is text, not an object
  CHECK(where == "page.html:2: b.c");
  data.set_object("b", TemplateData{});
  CHECK(set.render("page", data, test_catalogue()).error() == TemplateErrc::missing_value);
  data.set_object("b", TemplateData{}.set("c", "ok"));
  data.set("l", "not a list");
  CHECK(set.render("page", data, test_catalogue()).error() == TemplateErrc::wrong_kind);
  data.set_list("l", {});
  CHECK(render(set, data) == "<p></p>\n<p>ok</p>");
  CHECK(set.render("nope", data, test_catalogue()).error() == TemplateErrc::unknown_template);
  // A translation the catalogue lacks, and a placeholder the data lacks.
  const auto t = one("{{t:greeting.absent}}");
  CHECK(t.render("page", data, test_catalogue()).error() == TemplateErrc::missing_translation);
  const auto p = one("{{t:greeting.hello}}");
  CHECK(p.render("page", TemplateData{}, test_catalogue()).error() == TemplateErrc::missing_value);
  CHECK(render(p, TemplateData{}.set("name", "Ana")) == "Hello Ana &lt;&amp;&gt; &#39;friend&#39;");
}

TEST_CASE("template: unsafe or broken templates are refused at load with file and line",
          "[console][template]") {
  struct Case {
    const char* source;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"<p>\n{{#a}}\n", "page.html:2: section 'a' is never closed"},
      {"{{#a}}{{/b}}", "page.html:1: '{{/b}}' closes 'a'"},
      {"{{/a}}", "closes no section"},
      {"<p>{{a}</p>", "'{{' without '}}'"},
      {"<p>a}}</p>", "'}}' without '{{'"},
      {"<p>{{a\nb}}</p>", "a tag spans lines"},
      {"{{}}", "empty tag"},
      {"{{A}}", "is not a name"},
      {"{{a..b}}", "is not a name"},
      {"{{t:}}", "is not a catalogue key"},
      {"<script src=\"/static/a.js\">{{a}}</script>", "'{{a}}' inside <script>"},
      {"<script>alert(1)</script>", "inline script is not allowed"},
      {"<style>p{}</style>", "<style> is not allowed"},
      {"<p style=\"color:red\">x</p>", "style attribute is not allowed"},
      {"<a onclick=\"{{a}}\">x</a>", "event handler attribute 'onclick'"},
      {"<img onerror=x>", "event handler attribute 'onerror'"},
      {"<input value={{a}}>", "inside a tag"},
      {"<p {{a}}>x</p>", "inside a tag"},
      {"<p{{#a}} class=\"x\"{{/a}}>", "inside a tag"},
      {"<a href=\"{{u:a}}\">x</a>", "must follow a literal same-origin path"},
      {"<a href=\"//{{u:a}}\">x</a>", "must follow a literal same-origin path"},
      {"<a href=\"https://x/{{u:a}}\">x</a>", "must follow a literal same-origin path"},
      {"<a href=\"/c/{{a}}\">x</a>", "URLs take {{u:name}} only"},
      {"<form action=\"/{{t:k}}\">", "URLs take {{u:name}} only"},
      {"<p title=\"{{html:a}}\">", "only text values are allowed there"},
      {"<p title=\"{{>part}}\">", "only text values are allowed there"},
      {"<p title=\"{{#a}}\">{{/a}}\"", "ends in another HTML context"},
      {"{{#a}}<p>{{/a}}", ""},  // fine: both in data
      {"a < b", "stray '<'"},
      {"<p", "the template ends inside a tag"},
      {"{{>missing}}", "includes 'missing', which is not a template"},
  };
  for (const auto& c : cases) {
    INFO(c.source);
    const auto message = syntax_error_of(c.source);
    if (std::string(c.message).empty()) {
      CHECK(message.empty());
    } else {
      CHECK(message.find(c.message) != std::string::npos);
      CHECK(message.rfind("page.html:", 0) == 0);
    }
  }
  // An include cycle.
  CHECK_THROWS_WITH(TemplateSet::from_sources({{"a.html", "{{>b}}"}, {"b.html", "{{>a}}"}}),
                    Catch::Contains("in a cycle"));
  CHECK_THROWS_WITH(TemplateSet::from_sources({{"a.html", "{{>a}}"}}),
                    Catch::Contains("in a cycle"));
  // Allowed positions.
  CHECK_NOTHROW(one("<!DOCTYPE html><!-- a {{! c }} comment -->\n"
                    "<a href=\"/x/{{u:a}}\" title=\"{{a}}\" class='{{t:k}}'>{{a}}</a>"
                    "<a href=\"?page={{u:p}}\" data-x=\"{{a}}\">{{#l}}<b>{{a}}</b>{{/l}}</a>"
                    "<option value=\"{{a}}\"{{#s}} selected{{/s}}>{{a}}</option>"
                    "<script src=\"/static/js/{{u:f}}\" nonce=\"{{n}}\"></script>"));
}

TEST_CASE("template: the console's own templates load and render in every language",
          "[console][template]") {
  const std::string web = std::string(SLUIS_SOURCE_DIR) + "/console/web";
  const auto set = TemplateSet::load(web + "/templates");
  const auto names = set.names();
  CHECK(std::find(names.begin(), names.end(), "layout") != names.end());
  CHECK(std::find(names.begin(), names.end(), "login") != names.end());
  for (const auto& lang : console_languages()) {
    INFO(lang);
    const auto cat = Catalogue::load_dir(web + "/i18n", lang);
    TemplateData login;
    login.set("csrf", "tok\"en").set_flag("failed", true);
    std::string where;
    auto content = set.render("login", login, cat, where);
    INFO(where);
    REQUIRE(content.has_value());
    std::vector<TemplateData> languages;
    for (const auto& code : console_languages()) {
      TemplateData l;
      l.set("code", code)
          .set("label", *cat.find("language." + code))
          .set_flag("current", code == lang);
      languages.push_back(l);
    }
    TemplateData page;
    page.set("lang", lang).set("title", *cat.find("login.page_title")).set("nonce", "n0nce+/=");
    page.set("csrf", "tok\"en").set("return_to", "/login");
    page.set_list("scripts", {TemplateData{}.set("file", "passkey-login.js")});
    page.set_list("languages", languages);
    page.set_flag("session", false).set_flag("nav", false);
    page.set_html("content", *content);
    auto html = set.render("layout", page, cat, where);
    INFO(where);
    REQUIRE(html.has_value());
    const auto& out = html->str();
    CHECK(out.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(out.find("<html lang=\"" + lang + "\">") != std::string::npos);
    CHECK(out.find("<a class=\"skip-link\" href=\"#main\">" +
                   html_escape(*cat.find("layout.skip_to_content")) + "</a>") != std::string::npos);
    CHECK(out.find("<main id=\"main\" tabindex=\"-1\">") != std::string::npos);
    CHECK(out.find("<link rel=\"stylesheet\" href=\"/static/console.css\" nonce=\"n0nce+/=\">") !=
          std::string::npos);
    CHECK(out.find(
              "<script src=\"/static/js/passkey-login.js\" nonce=\"n0nce+/=\" defer></script>") !=
          std::string::npos);
    CHECK(out.find("value=\"tok&quot;en\"") != std::string::npos);
    CHECK(out.find("aria-pressed=\"true\">" + html_escape(*cat.find("language." + lang)) +
                   "</button>") != std::string::npos);
    CHECK(out.find(html_escape(*cat.find("login.passkey_button"))) != std::string::npos);
    CHECK(out.find(html_escape(*cat.find("login.failed"))) != std::string::npos);
    CHECK(out.find("action=\"/logout\"") == std::string::npos);  // no session: no sign-out form
    // No inline script or style anywhere.
    CHECK(out.find("<style") == std::string::npos);
    CHECK(out.find("style=") == std::string::npos);
    CHECK(out.find("<script>") == std::string::npos);
    // Signed in: the sign-out form names the worker (escaped).
    page.set_object("session", TemplateData{}.set("worker", "<Ana>").set("partner", "CAW"));
    auto signed_in = set.render("layout", page, cat, where);
    REQUIRE(signed_in.has_value());
    CHECK(signed_in->str().find("action=\"/logout\"") != std::string::npos);
    CHECK(signed_in->str().find("&lt;Ana&gt;") != std::string::npos);
    CHECK(signed_in->str().find("<Ana>") == std::string::npos);
  }
}
