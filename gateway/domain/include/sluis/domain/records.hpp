// The domain's vocabulary: the records, errors and repository interfaces of sluis::store, named
// here so that the domain's rules read in one namespace (no engine header comes with them).
#pragma once

#include "sluis/store/error.hpp"
#include "sluis/store/records.hpp"
#include "sluis/store/repositories.hpp"
#include "sluis/store/sealed_fields.hpp"

namespace sluis::domain {

using store::BreakGlassGrant;
using store::BreakGlassReason;
using store::BreakGlassReasonQuery;
using store::CareRelationship;
using store::ClientId;
using store::ConsentRecord;
using store::DossierEntry;
using store::Errc;
using store::FieldInput;
using store::FragmentId;
using store::FragmentMeta;
using store::Instant;
using store::kBreakGlassReasonCategory;
using store::kBreakGlassReasonField;
using store::kMaxConsentDocument;
using store::kMaxFieldsPerFragment;
using store::NewConsent;
using store::OpenedField;
using store::Partner;
using store::Registration;
using store::RelationshipOrigin;
using store::Result;
using store::SealedFragment;
using store::Storage;
using store::UnitOfWork;
using store::Worker;

}  // namespace sluis::domain
