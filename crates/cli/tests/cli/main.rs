//! The `offboard` command as a user runs it, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)]

mod basics;
mod bin;
mod bound;
mod duplicates;
mod export;
mod helpers;
mod jobs;
mod lifecycle;
mod matrix;
mod merge;
mod privacy;
mod requests;
mod resolve;
mod restore;
mod schedule;
mod scrub;
mod small;
mod undo;
