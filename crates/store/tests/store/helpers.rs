//! Shared setup: a store over a fresh database with a preset or a model text.

use offboard_model::presets::preset;
use offboard_model::Model;
use offboard_store::{Database, Store};
use offboard_testkit::TestDb;

pub fn model(name: &str) -> Model {
    Model::parse(name, preset(name).unwrap().source).unwrap()
}

pub fn store(db: &TestDb, preset_name: &str) -> Store {
    Database::connect(&db.url)
        .unwrap()
        .with_model(model(preset_name))
        .unwrap()
        .0
}

pub fn store_with(db: &TestDb, model_text: &str) -> Store {
    let m = Model::parse("test.toml", model_text).unwrap_or_else(|e| panic!("{e}"));
    Database::connect(&db.url).unwrap().with_model(m).unwrap().0
}

/// Writes CSV files into a fresh directory under the test's temp dir.
pub fn csv_dir(db: &TestDb, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = db.dir.path().join(format!(
        "csv{}",
        files.len() * 7 + files.first().map_or(0, |f| f.1.len())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    dir
}

pub fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
