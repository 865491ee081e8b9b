//! The model file as TOML deserialises it, before any checking. Spans point back into the file.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

pub type Name = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub model: RawModelSection,
    pub customer: Spanned<RawCustomer>,
    #[serde(default)]
    pub record: BTreeMap<Name, Spanned<RawRecord>>,
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pub permissions: BTreeMap<Name, Spanned<OneOrMany>>,
    pub privacy: Option<Spanned<RawPrivacy>>,
    #[serde(default)]
    pub schedule: Vec<Spanned<RawSchedule>>,
}

/// `[[schedule]]`: retention that runs — an operation the scheduler applies every period to
/// the customers a condition selects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub id: Name,
    /// What people call it (`"Delete members deactivated for seven years"`).
    pub label: Option<String>,
    /// purge | deactivate | delete | erase | compact
    pub run: Name,
    /// hour | day | week | month
    pub every: Option<Name>,
    /// A rule-language condition on the customer (`status = 'deactivated'`).
    pub customers: Option<Spanned<String>>,
    /// How long ago `since` must be (`"7 years"`, `"90 days"`).
    pub older_than: Option<Spanned<String>>,
    /// The customer's date or date-time column `older_than` counts from.
    pub since: Option<Name>,
    /// The deactivation reason a `deactivate` schedule gives.
    pub reason: Option<Spanned<String>>,
    /// The role that approves each run before it applies (`"manager"`): a review queue.
    pub review: Option<Name>,
    /// The role that may run it again in a period it already ran in (`--force`); by default
    /// the review role, else whoever may change the settings (an admin).
    pub force: Option<Name>,
}

/// `[privacy]`: what an erased customer's tombstone keeps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrivacy {
    /// Customer columns kept besides id, number and kind (membership: `["name",
    /// "company_id"]`, as iMIS keeps the name and the company).
    #[serde(default)]
    pub tombstone: Vec<Name>,
    /// Days a closed privacy request keeps the requester's contact and notes.
    pub keep_requests_days: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelSection {
    pub name: Spanned<String>,
    pub delete: Option<Spanned<String>>,
    pub purge: Option<Spanned<String>>,
    #[serde(default)]
    pub purge_retention_days: u32,
    pub default_view: Option<Spanned<String>>,
    /// The currency money fields are in (`EUR`, `USD`, ...), for display.
    pub currency: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomer {
    pub kinds: Vec<Name>,
    pub number: Option<RawNumber>,
    #[serde(default)]
    pub fields: BTreeMap<Name, Spanned<StringOr<RawField>>>,
    #[serde(default)]
    pub links: BTreeMap<Name, Spanned<RawCustomerLink>>,
    #[serde(default)]
    pub reasons: BTreeMap<Name, Vec<String>>,
    pub demo: Option<RawCustomerDemo>,
    /// Which built-in columns hold personal data (`["name", "email"]`).
    #[serde(default)]
    pub personal: Vec<Name>,
    /// Which built-in columns identify a person (`["email"]`).
    #[serde(default)]
    pub identifying: Vec<Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNumber {
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "one")]
    pub width: usize,
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomerDemo {
    #[serde(default)]
    pub kinds: BTreeMap<String, u32>,
    #[serde(default)]
    pub status: BTreeMap<String, u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomerLink {
    /// What the customers linking here are called on the linked customer's page
    /// (`"Contact persons"` of a company).
    pub label: Option<String>,
    pub kinds: Option<Vec<Name>>,
    pub target_kinds: Option<Vec<Name>>,
    pub on_erase: Option<Spanned<String>>,
    pub demo: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    #[serde(rename = "type")]
    pub ty: String,
    pub values: Option<Vec<String>>,
    /// What people call the field (`"Due on"`).
    pub label: Option<String>,
    pub demo: Option<RawFieldDemo>,
    /// Personal data (a name, a phone, an address line, a note's text): masked by a forget,
    /// listed by `offboard check`, never kept after an erasure.
    #[serde(default)]
    pub personal: bool,
    /// Identifies a person (an email): an erased person's value may not come back.
    #[serde(default)]
    pub identifying: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFieldDemo {
    pub values: Option<Vec<String>>,
    pub weights: Option<Vec<u32>>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub zero: Option<f64>,
    pub null: Option<f64>,
    pub gen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    /// What people call records of the kind, in the plural (`"Fund movements"`).
    pub label: Option<String>,
    pub owner: Name,
    pub owner_link: Option<Name>,
    #[serde(default)]
    pub fields: BTreeMap<Name, Spanned<StringOr<RawField>>>,
    #[serde(default)]
    pub links: BTreeMap<Name, Spanned<StringOr<RawRecordLink>>>,
    pub on_erase: Option<Spanned<String>>,
    #[serde(default)]
    pub transferable: bool,
    pub order_by: Option<Vec<Name>>,
    pub numbered: Option<Spanned<RawNumbered>>,
    #[serde(default)]
    pub permissions: BTreeMap<Name, Spanned<OneOrMany>>,
    pub demo: Option<RawRecordDemo>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecordLink {
    pub target: Name,
    pub on_erase: Option<Spanned<String>>,
    pub demo: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNumbered {
    pub field: Name,
    pub per: Option<Name>,
    pub prefix: Option<String>,
    pub width: Option<usize>,
    pub reuse: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecordDemo {
    pub weights: Vec<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub id: Name,
    pub on: Vec<Name>,
    pub kind: Option<Name>,
    pub customers: Option<Name>,
    pub record: Option<Name>,
    pub scope: Option<Name>,
    pub link: Option<Name>,
    pub customer_kinds: Option<Vec<Name>>,
    pub when: Option<Spanned<String>>,
    pub having: Option<Spanned<String>>,
    pub message: Option<Spanned<String>>,
    pub amount: Option<Name>,
    pub resolve: Option<Spanned<RawResolve>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResolve {
    #[serde(default)]
    pub complete: BTreeMap<Name, Spanned<toml::Value>>,
}

/// A TOML value that is either a plain string or a table `T` (`total = "money"` or
/// `total = { type = "money", demo = { ... } }`).
#[derive(Debug)]
pub enum StringOr<T> {
    Str(String),
    Table(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for StringOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = StringOr<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOr::Str(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(StringOr::Table)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A role list: `"manager"` (that role and every role above it) or `["manager", "admin"]`.
#[derive(Debug)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a role or a list of roles")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}
