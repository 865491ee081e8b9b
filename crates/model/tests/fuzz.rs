//! Fuzzing model files: every preset, mutated at random (characters deleted, inserted,
//! lines doubled or swapped), must load or be refused with diagnostics inside the file —
//! never a panic. `OFFBOARD_FUZZ_CASES` sets the cases (64 by default: CI's short round).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use offboard_model::presets::PRESETS;
use offboard_model::Model;

fn cases() -> u32 {
    std::env::var("OFFBOARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// One edit of a text: (kind, position, length, inserted).
fn edit() -> impl Strategy<Value = (u8, usize, usize, String)> {
    (
        0u8..4,
        any::<usize>(),
        0usize..12,
        "[a-z_{}\\[\\]\"'=,.|()<>!%0-9 \n]{0,12}",
    )
}

fn apply(text: &str, edits: &[(u8, usize, usize, String)]) -> String {
    let mut t = text.to_string();
    for (kind, at, len, insert) in edits {
        let mut at = at % (t.len() + 1);
        while !t.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + len).min(t.len());
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        match kind {
            0 => t.replace_range(at..end, ""),
            1 => t.insert_str(at, insert),
            2 => {
                // Double the line at `at`.
                let start = t[..at].rfind('\n').map_or(0, |i| i + 1);
                let stop = t[at..].find('\n').map_or(t.len(), |i| at + i);
                let line = format!("{}\n", &t[start..stop]);
                t.insert_str(start, &line);
            }
            _ => t.replace_range(at..end, insert),
        }
    }
    t
}

#[test]
fn a_mutated_model_file_loads_or_is_refused_where_it_is_wrong() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(0..PRESETS.len(), prop::collection::vec(edit(), 1..6)),
            |(p, edits)| {
                let text = apply(PRESETS[p].source, &edits);
                let lines = text.lines().count().max(1);
                if let Err(e) = Model::parse("m.toml", &text) {
                    prop_assert!(!e.diagnostics.is_empty());
                    for d in &e.diagnostics {
                        prop_assert!(
                            d.line >= 1 && d.line <= lines + 1,
                            "line {} of {lines}: {}",
                            d.line,
                            d.message
                        );
                        prop_assert!(!d.message.is_empty());
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}
