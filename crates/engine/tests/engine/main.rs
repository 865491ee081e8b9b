//! Scenario tests of the lifecycle engine, one per behaviour of PRESETS.md, on both backends.
#![allow(clippy::unwrap_used)]

mod fuzz;
mod helpers;
mod legacy;
mod legal;
mod lending;
mod membership;
mod model_test;
mod purge_reference;
mod races;
mod requests;
mod robustness;
mod search;
mod services_erp;
mod trust;
