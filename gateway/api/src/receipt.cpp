// The printable consent receipt: plain words in the client's language, one self-contained page.
#include "receipt.hpp"

#include "sluis/audit/brussels_time.hpp"
#include "sluis/domain/consent_book.hpp"

#include <array>
#include <sstream>
#include <string_view>
#include <vector>

namespace sluis::api {

using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules
namespace {

// One phrase in the three languages, indexed by ReportLanguage (nl, fr, en).
using Phrase = std::array<std::string_view, 3>;

std::string_view say(const Phrase& p, ReportLanguage lang) {
  return p[static_cast<std::size_t>(lang)];
}

constexpr Phrase kTitle = {"Bewijs van toestemming", "Attestation de consentement",
                           "Consent receipt"};
constexpr Phrase kIntro = {
    "Dit blad bevestigt welke gegevens u toestemming gaf te delen, met wie, waarvoor en hoe lang.",
    "Cette feuille confirme quelles informations vous avez accepté de partager, avec qui, pourquoi "
    "et pour combien de temps.",
    "This sheet confirms which information you agreed to share, with whom, why and for how long."};
constexpr Phrase kReference = {"Referentie van deze toestemming", "Référence de ce consentement",
                               "Reference of this consent"};
constexpr Phrase kFullReference = {"Volledige referentie (voor systemen)",
                                   "Référence complète (pour les systèmes)",
                                   "Full reference (for systems)"};
constexpr Phrase kTimes = {"Alle tijden zijn Brusselse tijd.",
                           "Toutes les heures sont à l'heure de Bruxelles.",
                           "All times are Brussels time."};
constexpr Phrase kRecordedBy = {"Genoteerd door", "Enregistré par", "Recorded by"};
constexpr Phrase kRecordedOn = {"op", "le", "on"};
constexpr Phrase kHow = {"Hoe", "Comment", "How"};
constexpr Phrase kInPerson = {"persoonlijk, in gesprek", "en personne, lors d'un entretien",
                              "in person, in conversation"};
constexpr Phrase kPaper = {"op papier, ondertekend", "sur papier, signé", "on paper, signed"};
constexpr Phrase kOther = {"op een andere manier", "d'une autre manière", "another way"};
constexpr Phrase kRepresentative = {"Namens u gegeven door", "Donné en votre nom par",
                                    "Given on your behalf by"};
constexpr Phrase kParent = {"een ouder", "un parent", "a parent"};
constexpr Phrase kGuardian = {"een voogd", "un tuteur", "a guardian"};
constexpr Phrase kAdministrator = {"een bewindvoerder", "un administrateur",
                                   "a court-appointed administrator"};
constexpr Phrase kTrusted = {"een vertrouwenspersoon", "une personne de confiance",
                             "a trusted person"};
constexpr Phrase kShareWith = {"Gedeeld met", "Partagé avec", "Shared with"};
constexpr Phrase kAnyOrganisation = {"elke aangesloten organisatie", "toute organisation affiliée",
                                     "any connected organisation"};
constexpr Phrase kOrgType = {"organisaties van het type", "les organisations de type",
                             "organisations of the type"};
constexpr Phrase kOnlyRole = {"alleen medewerkers met de rol",
                              "uniquement le personnel ayant le rôle", "only staff with the role"};
constexpr Phrase kWhat = {"Welke gegevens", "Quelles informations", "Which information"};
constexpr Phrase kAllOrdinary = {"alle gewone gegevens (niet de extra beschermde)",
                                 "toutes les informations ordinaires (pas les plus protégées)",
                                 "all ordinary information (not the specially protected kinds)"};
constexpr Phrase kWhy = {"Waarvoor", "Pourquoi", "Why"};
constexpr Phrase kPeriod = {"Van – tot", "Du – au", "From – until"};
constexpr Phrase kExcept = {"Behalve", "Sauf", "Except"};
constexpr Phrase kExceptPartner = {"de organisatie", "l'organisation", "the organisation"};
constexpr Phrase kExceptWorker = {"een bepaalde medewerker van", "un membre du personnel de",
                                  "one staff member of"};
constexpr Phrase kBasis = {"Rechtsgrond", "Base légale", "Legal basis"};
constexpr Phrase kBasisConsent = {"uw uitdrukkelijke toestemming", "votre consentement explicite",
                                  "your explicit consent"};
constexpr Phrase kBasisVital = {"uw vitale belang (u kon zelf niet toestemmen)",
                                "votre intérêt vital (vous ne pouviez pas consentir vous-même)",
                                "your vital interest (you could not consent yourself)"};
constexpr Phrase kBasisLegal = {"een wettelijke verplichting", "une obligation légale",
                                "a legal obligation"};
constexpr Phrase kBasisPublic = {"een openbare opdracht van sociale hulp",
                                 "une mission publique d'aide sociale",
                                 "a public social-care mission"};
constexpr Phrase kStatus = {"Stand", "Statut", "Status"};
constexpr Phrase kActive = {"geldig", "valable", "in force"};
constexpr Phrase kRevoked = {"ingetrokken op", "retiré le", "withdrawn on"};
constexpr Phrase kWithdrawTitle = {"Uw toestemming intrekken", "Retirer votre consentement",
                                   "Withdrawing your consent"};
constexpr Phrase kWithdraw = {
    "U kunt deze toestemming altijd intrekken, zonder uitleg, bij elke dienst die u helpt. Zeg het "
    "gewoon tegen uw hulpverlener en toon dit blad of noem de referentie hierboven. Vanaf dat "
    "moment wordt er niets meer gedeeld op basis van deze toestemming. U kunt ook vragen wie uw "
    "gegevens heeft ingezien.",
    "Vous pouvez retirer ce consentement à tout moment, sans justification, auprès de chaque "
    "service qui vous aide. Dites-le simplement à votre intervenant et montrez cette feuille ou "
    "donnez la référence ci-dessus. À partir de ce moment, plus rien n'est partagé sur la base de "
    "ce consentement. Vous pouvez aussi demander qui a consulté vos informations.",
    "You can withdraw this consent at any time, without giving a reason, at any service that helps "
    "you. Just tell your worker and show this sheet or give the reference above. From that moment "
    "nothing more is shared on the basis of this consent. You can also ask who has looked at your "
    "information."};

std::string date_of(policy::Time t) {
  // "YYYY-MM-DD HH:MM" in Brussels time (the page says so once): unambiguous on paper in any
  // language, and the time on the client's own clock.
  return format_brussels_time(t);
}

std::string_view channel_phrase(policy::Channel c, ReportLanguage lang) {
  switch (c) {
  case policy::Channel::in_person: return say(kInPerson, lang);
  case policy::Channel::paper_signed: return say(kPaper, lang);
  case policy::Channel::other: return say(kOther, lang);
  }
  return say(kOther, lang);
}

std::string_view basis_phrase(policy::LegalBasis b, ReportLanguage lang) {
  switch (b) {
  case policy::LegalBasis::consent: return say(kBasisConsent, lang);
  case policy::LegalBasis::vital_interest: return say(kBasisVital, lang);
  case policy::LegalBasis::legal_obligation: return say(kBasisLegal, lang);
  case policy::LegalBasis::public_task: return say(kBasisPublic, lang);
  }
  return say(kBasisConsent, lang);
}

std::string_view relationship_phrase(policy::Relationship r, ReportLanguage lang) {
  switch (r) {
  case policy::Relationship::parent: return say(kParent, lang);
  case policy::Relationship::legal_guardian: return say(kGuardian, lang);
  case policy::Relationship::court_appointed_administrator: return say(kAdministrator, lang);
  case policy::Relationship::trusted_person: return say(kTrusted, lang);
  }
  return say(kTrusted, lang);
}

std::string partner_name(const std::string& id, const ReportNames& names) {
  auto it = names.partner_display_names.find(id);
  return it == names.partner_display_names.end() ? id : it->second;
}

std::string grantee_text(const policy::Grantee& g, const policy::RulePack& pack,
                         ReportLanguage lang, const ReportNames& names) {
  std::string out;
  if (!g.partner.empty()) {
    out = partner_name(g.partner, names);
  } else if (g.partner_type) {
    out = std::string(say(kOrgType, lang)) + " “" + pack.def(*g.partner_type).label + "”";
  } else {
    out = std::string(say(kAnyOrganisation, lang));
  }
  if (g.role) {
    out += " — " + std::string(say(kOnlyRole, lang)) + " “" +
           role_label(pack.def(*g.role).name, lang, names) + "”";
  }
  return out;
}

void row(std::ostringstream& out, std::string_view head, const std::string& value) {
  out << "<tr><th>" << html_escape(head) << "</th><td>" << html_escape(value) << "</td></tr>\n";
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&#39;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string render_consent_receipt(const ConsentRecord& record, const policy::Consent& consent,
                                   const policy::RulePack& pack, ReportLanguage lang,
                                   const ReportNames& names) {
  static constexpr std::array<std::string_view, 3> kLang = {"nl", "fr", "en"};
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"" << kLang[static_cast<std::size_t>(lang)]
      << "\"><head><meta charset=\"utf-8\"><title>" << html_escape(say(kTitle, lang))
      << "</title><style>"
         "body{font-family:sans-serif;font-size:12pt;max-width:18cm;margin:1cm auto;color:#000}"
         "h1{font-size:18pt}h2{font-size:14pt;margin-top:1.2em}"
         "table{border-collapse:collapse;width:100%}"
         "th,td{border:1px solid #888;padding:4px 6px;text-align:left;vertical-align:top}"
         "th{width:30%;background:#eee}section{page-break-inside:avoid;margin-bottom:8px}"
         "@media print{body{margin:0}}"
         "</style></head><body>\n";
  out << "<h1>" << html_escape(say(kTitle, lang)) << "</h1>\n<p>" << html_escape(say(kIntro, lang))
      << "</p>\n<table>\n";
  // The short form is what a client can copy and quote; the API takes either.
  const auto short_reference = short_consent_reference(record.id);
  row(out, say(kReference, lang), short_reference.empty() ? record.id : short_reference);
  if (!short_reference.empty()) row(out, say(kFullReference, lang), record.id);
  const auto recorder_role = role_label(pack.def(consent.evidence.recorder_role).name, lang, names);
  row(out, say(kRecordedBy, lang),
      partner_name(consent.evidence.recorded_by.partner, names) + " (" + recorder_role + "), " +
          std::string(say(kRecordedOn, lang)) + " " + date_of(consent.evidence.recorded_at));
  std::string how(channel_phrase(consent.evidence.channel, lang));
  if (!consent.evidence.channel_note.empty()) how += ": " + consent.evidence.channel_note;
  row(out, say(kHow, lang), how);
  if (consent.representative) {
    row(out, say(kRepresentative, lang),
        std::string(relationship_phrase(consent.representative->relationship, lang)));
  }
  row(out, say(kBasis, lang), std::string(basis_phrase(consent.legal_basis, lang)));
  if (record.revoked_at) {
    row(out, say(kStatus, lang),
        std::string(say(kRevoked, lang)) + " " +
            date_of(std::chrono::floor<std::chrono::seconds>(*record.revoked_at)));
  } else {
    row(out, say(kStatus, lang), std::string(say(kActive, lang)));
  }
  out << "</table>\n<p>" << html_escape(say(kTimes, lang)) << "</p>\n";

  for (const auto& p : consent.provisions) {
    out << "<section><h2>" << html_escape(say(kShareWith, lang)) << ": "
        << html_escape(grantee_text(p.grantee, pack, lang, names)) << "</h2>\n<table>\n";
    std::vector<std::string> what;
    p.categories.for_each([&](policy::CategoryId c) {
      what.push_back(category_label(pack.def(c).name, lang, names));
    });
    if (p.all_non_restricted) what.emplace_back(say(kAllOrdinary, lang));
    std::vector<std::string> why;
    p.purposes.for_each(
        [&](policy::PurposeId u) { why.push_back(purpose_label(pack.def(u).name, lang, names)); });
    auto join = [](const std::vector<std::string>& items) {
      std::string s;
      for (const auto& i : items)
        s += (s.empty() ? "" : "; ") + i;
      return s;
    };
    row(out, say(kWhat, lang), join(what));
    row(out, say(kWhy, lang), join(why));
    row(out, say(kPeriod, lang), date_of(p.period.start) + " – " + date_of(p.period.end));
    std::vector<std::string> except;
    for (const auto& e : p.exceptions) {
      switch (e.kind) {
      case policy::ConsentException::Kind::partner:
        except.push_back(std::string(say(kExceptPartner, lang)) + " " +
                         partner_name(e.partner, names));
        break;
      case policy::ConsentException::Kind::worker:
        except.push_back(std::string(say(kExceptWorker, lang)) + " " +
                         partner_name(e.partner, names));
        break;
      case policy::ConsentException::Kind::category:
        except.push_back(category_label(pack.def(e.category).name, lang, names));
        break;
      }
    }
    if (!except.empty()) row(out, say(kExcept, lang), join(except));
    out << "</table></section>\n";
  }
  out << "<h2>" << html_escape(say(kWithdrawTitle, lang)) << "</h2>\n<p>"
      << html_escape(say(kWithdraw, lang)) << "</p>\n</body></html>\n";
  return out.str();
}

}  // namespace sluis::api
