//! The preset model files shipped in the binary (see PRESETS.md): ordinary model files that
//! users copy and edit.

/// A preset: its name, a one-line summary and the model file's text.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub summary: &'static str,
    pub source: &'static str,
}

pub const PRESETS: [Preset; 5] = [
    Preset {
        name: "lending",
        summary: "loan servicing: hard delete, strict dependency order",
        source: include_str!("../presets/lending.toml"),
    },
    Preset {
        name: "services",
        summary: "a service business: soft delete, recycle bin, cleanup",
        source: include_str!("../presets/services.toml"),
    },
    Preset {
        name: "erp",
        summary: "manufacturing ERP: delete means inactivate, never erase",
        source: include_str!("../presets/erp.toml"),
    },
    Preset {
        name: "legal",
        summary: "law-firm practice management: deactivate normally, delete only mistakes",
        source: include_str!("../presets/legal.toml"),
    },
    Preset {
        name: "membership",
        summary: "association management: mark deleted, periodic permanent purge",
        source: include_str!("../presets/membership.toml"),
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}
