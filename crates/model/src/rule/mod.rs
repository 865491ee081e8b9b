//! The rule language (placeholder until implemented; see docs/rule-language-spec.md).
