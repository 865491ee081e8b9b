use offboard_engine::{Actor, Engine, Outcome, Plan};
use offboard_model::model::Role;
use offboard_model::presets::preset;
use offboard_model::Model;
use offboard_store::{Database, Store};
use offboard_testkit::TestDb;

/// A store with a preset and data imported from CSV texts.
pub fn setup(db: &TestDb, name: &str, files: &[(&str, &str)]) -> Store {
    let model = Model::parse(name, preset(name).unwrap().source).unwrap();
    let (mut store, _) = Database::connect(&db.url)
        .unwrap()
        .with_model(model)
        .unwrap();
    let dir = db.dir.path().join("csv");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, body) in files {
        std::fs::write(dir.join(file), body).unwrap();
    }
    if !files.is_empty() {
        store.import_dir(&dir, &mut |_, _| {}).unwrap();
    }
    store
}

pub fn admin(store: &mut Store) -> Engine<'_> {
    Engine::new(store, Actor::local_admin())
}

pub fn as_role(store: &mut Store, role: Role) -> Engine<'_> {
    Engine::new(
        store,
        Actor {
            name: format!("a {}", role.name()),
            role,
        },
    )
}

pub fn outcome(plan: &Plan, id: i64) -> Outcome {
    plan.customers
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("customer {id} not in plan"))
        .outcome
}

pub fn rules(plan: &Plan, id: i64) -> Vec<String> {
    plan.customers
        .iter()
        .find(|c| c.id == id)
        .unwrap()
        .blockers
        .iter()
        .map(|b| b.rule.clone())
        .collect()
}

pub fn status(store: &mut Store, id: i64) -> Option<String> {
    store
        .find_customer(id)
        .unwrap()
        .map(|c| c.status.to_string())
}

pub fn count(store: &mut Store, sql: &str) -> i64 {
    store.db().query_i64(sql, &[]).unwrap()
}
