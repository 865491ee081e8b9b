//! offboard's model layer: the model file (TOML) that describes a business's customers and
//! records, and the rule language its blocking rules are written in.
//!
//! Nothing here touches a database: the store compiles what this crate checks.
#![forbid(unsafe_code)]

pub mod diag;
pub mod model;
pub mod presets;
pub mod rule;
pub mod value;

pub use diag::Diagnostic;
pub use model::{Model, ModelError};
pub use value::{Date, DateTime, FieldType, Value};
