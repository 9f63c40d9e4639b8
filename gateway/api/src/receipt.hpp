// The printable consent receipt a worker hands the client (BRIEF §4 promise 9), in nl, fr or en.
#pragma once

#include "sluis/domain/consent_book.hpp"

#include "sluis/audit/report.hpp"
#include "sluis/store/records.hpp"
#include "sluis/policy/consent.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <string>

namespace sluis::api {

using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules

/// One self-contained HTML page (inline CSS, no scripts, no external resources), printable on one
/// sheet: who recorded the consent and how, for which organisations / roles, which categories,
/// which purposes, the period, exceptions, the legal basis, its status, and how to withdraw it.
/// Names are printed as translated labels (ReportNames); nothing identifying the client is printed
/// (the page names the consent by its id only). Every text is HTML-escaped. Pure.
[[nodiscard]] std::string render_consent_receipt(const ConsentRecord& record,
                                                 const policy::Consent& consent,
                                                 const policy::RulePack& pack, ReportLanguage lang,
                                                 const ReportNames& names);

/// The escaped form of `text` for HTML element content and attribute values.
[[nodiscard]] std::string html_escape(std::string_view text);

}  // namespace sluis::api
