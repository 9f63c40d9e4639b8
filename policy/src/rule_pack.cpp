// Placeholder translation unit until the rule pack lands (policy needs at least one source).
namespace sluis::policy {}
