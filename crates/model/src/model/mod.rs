//! The model file: a business's customer kinds, record kinds, links, rules and permissions.
//!
//! [`Model::parse`] reads and checks a model file; every problem becomes a [`Diagnostic`] with
//! the file, line and column. The checked [`Model`] is plain data the store and engine read.

mod load;
mod raw;
mod schedule;

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::rule::Rule;
use crate::value::{FieldType, Value};

pub use load::ModelError;
pub use schedule::{Age, AgeUnit, Every, Schedule, ScheduleRun};

/// What `delete` does to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteMode {
    /// To the recycle bin: status deleted, restorable until purged.
    Soft,
    /// Erase at once, refused while anything depends on the customer.
    Hard,
    /// Only inactivate (the customer is deactivated; nothing is erased).
    Deactivate,
}

/// How purge (the cleanup of deleted customers) chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PurgeMode {
    /// Each deleted customer is erased unless blocked.
    PerCustomer,
    /// Every deleted customer at once, or none when any is blocked.
    AllOrNothing,
    /// This business never purges.
    None,
}

/// Where a customer is in the lifecycle. (An erased customer has no row: it has no status.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Deactivated,
    /// In the recycle bin.
    Deleted,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Active, Status::Deactivated, Status::Deleted];
    pub const NAMES: &'static str = "active, deactivated, deleted";

    /// The status as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Deactivated => "deactivated",
            Status::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.name() == s)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which customers a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum View {
    Active,
    Deactivated,
    /// Active and deactivated: everything but the recycle bin.
    Current,
    /// The recycle bin.
    Deleted,
    All,
}

impl View {
    pub const NAMES: &'static str = "active, deactivated, current, deleted, all";

    pub fn parse(s: &str) -> Option<View> {
        Some(match s {
            "active" => View::Active,
            "deactivated" => View::Deactivated,
            "current" => View::Current,
            "deleted" => View::Deleted,
            "all" => View::All,
            _ => return None,
        })
    }

    /// The view's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            View::Active => "active",
            View::Deactivated => "deactivated",
            View::Current => "current",
            View::Deleted => "deleted",
            View::All => "all",
        }
    }

    /// The customer statuses this view shows.
    pub fn statuses(self) -> &'static [Status] {
        match self {
            View::Active => &[Status::Active],
            View::Deactivated => &[Status::Deactivated],
            View::Current => &[Status::Active, Status::Deactivated],
            View::Deleted => &[Status::Deleted],
            View::All => &Status::ALL,
        }
    }
}

/// An operation a role may be allowed to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    View,
    Edit,
    Import,
    Deactivate,
    Reactivate,
    Delete,
    Undelete,
    Purge,
    Transfer,
    Merge,
    /// Adding a record (per kind: `[record.NAME] permissions`).
    RecordCreate,
    /// Changing a record's fields (its owner: that is a transfer).
    RecordEdit,
    /// Deleting records (`records delete`, an operation's removal of open items).
    RecordDelete,
    Audit,
    Users,
    /// Exporting every table as CSV and taking backups.
    Export,
    /// Changing the settings kept in the database (the deactivation reasons per kind).
    Settings,
    /// Running privacy requests: verifying the person, answering, erasing, refusing
    /// (logging one is `edit`).
    Privacy,
}

impl Operation {
    pub const ALL: [Operation; 18] = [
        Operation::View,
        Operation::Edit,
        Operation::Import,
        Operation::Deactivate,
        Operation::Reactivate,
        Operation::Delete,
        Operation::Undelete,
        Operation::Purge,
        Operation::Transfer,
        Operation::Merge,
        Operation::RecordCreate,
        Operation::RecordEdit,
        Operation::RecordDelete,
        Operation::Audit,
        Operation::Users,
        Operation::Export,
        Operation::Settings,
        Operation::Privacy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::View => "view",
            Operation::Edit => "edit",
            Operation::Import => "import",
            Operation::Deactivate => "deactivate",
            Operation::Reactivate => "reactivate",
            Operation::Delete => "delete",
            Operation::Undelete => "undelete",
            Operation::Purge => "purge",
            Operation::Transfer => "transfer",
            Operation::Merge => "merge",
            Operation::RecordCreate => "record_create",
            Operation::RecordEdit => "record_edit",
            Operation::RecordDelete => "record_delete",
            Operation::Audit => "audit",
            Operation::Users => "users",
            Operation::Export => "export",
            Operation::Settings => "settings",
            Operation::Privacy => "privacy",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            // The name model files used before record operations were told apart.
            "records" => Some(Operation::RecordDelete),
            _ => Operation::ALL.into_iter().find(|o| o.name() == s),
        }
    }

    /// Operations on records, which a record kind may govern itself.
    pub fn is_record_op(self) -> bool {
        matches!(
            self,
            Operation::RecordCreate | Operation::RecordEdit | Operation::RecordDelete
        )
    }

    /// The least role allowed when the model does not say.
    fn default_min_role(self) -> Role {
        match self {
            Operation::View => Role::Viewer,
            Operation::Edit
            | Operation::Deactivate
            | Operation::Reactivate
            | Operation::Delete
            | Operation::Undelete
            | Operation::RecordCreate
            | Operation::RecordEdit
            | Operation::RecordDelete => Role::Clerk,
            Operation::Transfer
            | Operation::Merge
            | Operation::Audit
            | Operation::Export
            | Operation::Settings
            | Operation::Privacy => Role::Manager,
            Operation::Purge | Operation::Import | Operation::Users => Role::Admin,
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A user's role, from least to most trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Viewer,
    Clerk,
    Manager,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Clerk, Role::Manager, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Clerk => "clerk",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// Which roles may run which operation.
#[derive(Debug, Clone, Serialize)]
pub struct Permissions {
    pub allowed: Vec<(Operation, Vec<Role>)>,
}

impl Permissions {
    pub fn roles(&self, op: Operation) -> Vec<Role> {
        self.allowed
            .iter()
            .find(|(o, _)| *o == op)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| {
                let min = op.default_min_role();
                Role::ALL.into_iter().filter(|r| *r >= min).collect()
            })
    }

    pub fn allows(&self, role: Role, op: Operation) -> bool {
        self.roles(op).contains(&role)
    }

    /// The roles that may run a record operation on `kind`: the kind's own list when it
    /// has one, else the model's.
    pub fn record_roles(&self, op: Operation, kind: &RecordKind) -> Vec<Role> {
        kind.permissions
            .iter()
            .find(|(o, _)| *o == op)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| self.roles(op))
    }
}

/// What a link points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Customer,
    Record(String),
}

impl Target {
    /// The table the link references.
    pub fn table(&self) -> &str {
        match self {
            Target::Customer => CUSTOMERS_TABLE,
            Target::Record(k) => k,
        }
    }
}

/// What erasing the target does to a row that points at it through this link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkErase {
    /// The row protects its target: the target cannot be erased while the row survives.
    Block,
    /// The link is cleared and the row kept.
    Detach,
}

/// What erasing a customer does to the records it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnErase {
    /// The customer cannot be erased while it has such records.
    Block,
    /// The records are erased with it.
    Cascade,
    /// The records stay as history with the owner link cleared.
    Detach,
}

/// The name of the customers table.
pub const CUSTOMERS_TABLE: &str = "customers";

/// A link column: `<name>_id`, pointing at a customer or a record.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub name: String,
    pub column: String,
    pub target: Target,
    pub on_erase: LinkErase,
    /// Demo data: the share of rows that have this link set.
    pub demo: f64,
}

/// A customer-to-customer link (a person's company, a bill-to customer, a parent company).
#[derive(Debug, Clone, Serialize)]
pub struct CustomerLink {
    pub link: Link,
    /// What the customers linking to one are called on its page (`"Contact persons"`).
    pub label: Option<String>,
    /// Kinds of customer that may have the link (all when empty).
    pub kinds: Vec<String>,
    /// Kinds of customer it may point at (all when empty).
    pub target_kinds: Vec<String>,
}

impl CustomerLink {
    /// A link from a kind to its own kind (a subsidiary's parent company): a hierarchy, where a
    /// customer may not be above itself. (A customer may be its own bill-to.)
    pub fn is_hierarchy(&self) -> bool {
        self.kinds.iter().any(|k| self.target_kinds.contains(k))
    }
}

/// How demo data fills a field.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FieldDemo {
    pub values: Vec<String>,
    pub weights: Vec<u32>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub zero: f64,
    pub null: f64,
    pub gen: Option<String>,
}

/// A typed field of a customer or record.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    /// What people call it (`"Due on"`); the interfaces humanise the name where none is given.
    pub label: Option<String>,
    pub ty: FieldType,
    /// The values a text field may hold (any when `None`).
    pub values: Option<Vec<String>>,
    /// Personal data: masked by a forget, never kept after an erasure.
    pub personal: bool,
    /// Identifies a person (an email): an erased person's value may not come back.
    pub identifying: bool,
    #[serde(skip)]
    pub demo: FieldDemo,
}

/// A column of a generated table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: FieldType,
    /// Set for link columns: what they reference.
    pub link: Option<Target>,
}

/// A sequentially numbered field: an integer, or text as business documents are numbered
/// (`INV-0000001`, `A-17`, `K-2023/001`): a prefix and a zero-padded counter.
#[derive(Debug, Clone, Serialize)]
pub struct Numbered {
    pub field: String,
    /// Numbers count per owner (payment numbers per contract) rather than across the kind.
    pub per_owner: bool,
    /// The field is text: the next number continues the pattern of the latest one.
    pub text: bool,
    /// For text: the first number's prefix and counter width (`INV-`, 7 → `INV-0000001`).
    pub prefix: String,
    pub width: usize,
    /// A freed number (the latest record deleted) may be given again (`reuse = true`: a
    /// re-entered payment). Otherwise numbers only go up, as documents' numbers must.
    pub reuse: bool,
}

impl Numbered {
    /// A number split into its leading part and its trailing counter's digits (at most 18):
    /// `K-2023/009` → (`K-2023/`, `009`).
    fn split(number: &str) -> (&str, &str) {
        let digits = number
            .bytes()
            .rev()
            .take_while(u8::is_ascii_digit)
            .count()
            .min(18);
        number.split_at(number.len() - digits)
    }

    /// The trailing counter of a number (`INV-0000041` → 41), if it has one.
    pub fn counter(number: &str) -> Option<u64> {
        Numbered::split(number).1.parse().ok()
    }

    /// `number` with its trailing counter set to `n`, at least as wide as it was.
    pub fn with_counter(number: &str, n: u64) -> String {
        let (head, digits) = Numbered::split(number);
        format!("{head}{n:0w$}", w = digits.len().max(1))
    }

    /// The number after `latest` (text): its leading part kept, its trailing counter plus one
    /// at the same width (`INV-0000041` → `INV-0000042`, `K-2023/009` → `K-2023/010`,
    /// `A-17` → `A-18`); with none yet, the model's prefix and width.
    pub fn next_text(&self, latest: Option<&str>) -> String {
        match latest {
            None => format!("{}{:0w$}", self.prefix, 1, w = self.width),
            Some(latest) => {
                Numbered::with_counter(latest, Numbered::counter(latest).unwrap_or(0) + 1)
            }
        }
    }
}

#[cfg(test)]
mod numbering_tests {
    use super::Numbered;

    #[test]
    fn a_text_number_continues_its_pattern() {
        let n = Numbered {
            field: "number".into(),
            per_owner: false,
            text: true,
            prefix: "INV-".into(),
            width: 7,
            reuse: false,
        };
        assert_eq!(n.next_text(None), "INV-0000001");
        assert_eq!(n.next_text(Some("INV-0000041")), "INV-0000042");
        assert_eq!(n.next_text(Some("K-2023/009")), "K-2023/010");
        assert_eq!(n.next_text(Some("A-17")), "A-18");
        assert_eq!(n.next_text(Some("A-99")), "A-100");
        assert_eq!(n.next_text(Some("draft")), "draft1");
    }
}

/// A kind of record (`[record.NAME]`): one table.
#[derive(Debug, Clone, Serialize)]
pub struct RecordKind {
    pub name: String,
    /// What people call records of the kind, in the plural (`"Fund movements"`).
    pub label: Option<String>,
    pub owner: Link,
    pub links: Vec<Link>,
    pub fields: Vec<Field>,
    pub on_erase: OnErase,
    pub transferable: bool,
    pub order_by: Vec<String>,
    pub numbered: Option<Numbered>,
    /// Who may create, edit or delete records of this kind, where it differs from the
    /// model's `[permissions]`.
    pub permissions: Vec<(Operation, Vec<Role>)>,
    /// Demo data: weights of having 0, 1, 2, ... such records per owner.
    #[serde(skip)]
    pub demo_weights: Vec<u32>,
}

/// The plural of an English word: "company" → "companies", "match" → "matches".
pub fn plural_word(one: &str) -> String {
    if one.ends_with('y') && !one.ends_with("ay") && !one.ends_with("ey") && !one.ends_with("oy") {
        format!("{}ies", &one[..one.len() - 1])
    } else if one.ends_with('s') || one.ends_with('x') || one.ends_with("ch") || one.ends_with("sh")
    {
        format!("{one}es")
    } else {
        format!("{one}s")
    }
}

impl RecordKind {
    /// How many records of the kind, in words: "1 fund movement", "3 fund movements" (the
    /// plural is the kind's `label` where the model gives one).
    pub fn count_words(&self, n: i64) -> String {
        let one = self.name.replace('_', " ");
        if n == 1 {
            return format!("1 {one}");
        }
        let many = match &self.label {
            Some(label) => label.to_lowercase(),
            None => plural_word(&one),
        };
        format!("{n} {many}")
    }

    /// Every link: the owner first.
    pub fn all_links(&self) -> impl Iterator<Item = &Link> {
        std::iter::once(&self.owner).chain(self.links.iter())
    }

    /// The table's columns in order: `id`, the links, the fields.
    pub fn columns(&self) -> Vec<Column> {
        let mut cols = vec![Column {
            name: "id".into(),
            ty: FieldType::Int,
            link: None,
        }];
        cols.extend(self.all_links().map(|l| Column {
            name: l.column.clone(),
            ty: FieldType::Int,
            link: Some(l.target.clone()),
        }));
        cols.extend(self.fields.iter().map(|f| Column {
            name: f.name.clone(),
            ty: f.ty,
            link: None,
        }));
        cols
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The customer: kinds, numbering, extra fields, links to other customers, reasons.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerModel {
    pub kinds: Vec<String>,
    pub number_prefix: String,
    pub number_width: usize,
    pub fields: Vec<Field>,
    pub links: Vec<CustomerLink>,
    /// Deactivation reasons per customer kind.
    pub reasons: Vec<(String, Vec<String>)>,
    /// Built-in columns that hold personal data (`name`, `email`).
    pub personal: Vec<String>,
    /// Built-in columns that identify a person (`email`).
    pub identifying: Vec<String>,
    #[serde(skip)]
    pub demo_kinds: Vec<(String, u32)>,
    #[serde(skip)]
    pub demo_status: Vec<(String, u32)>,
}

/// Customer columns every model has, in table order, before links and extra fields.
pub const CUSTOMER_CORE_COLUMNS: [(&str, FieldType); 11] = [
    ("id", FieldType::Int),
    ("number", FieldType::Text),
    ("kind", FieldType::Text),
    ("name", FieldType::Text),
    ("status", FieldType::Text),
    ("email", FieldType::Text),
    ("created_at", FieldType::DateTime),
    ("deactivated_on", FieldType::Date),
    ("deactivation_reason", FieldType::Text),
    ("deleted_at", FieldType::DateTime),
    ("status_before_delete", FieldType::Text),
];

impl CustomerModel {
    /// The customers table's columns: the core ones, the links, the extra fields.
    pub fn columns(&self) -> Vec<Column> {
        let mut cols: Vec<Column> = CUSTOMER_CORE_COLUMNS
            .iter()
            .map(|(n, t)| Column {
                name: (*n).into(),
                ty: *t,
                link: None,
            })
            .collect();
        cols.extend(self.links.iter().map(|l| Column {
            name: l.link.column.clone(),
            ty: FieldType::Int,
            link: Some(Target::Customer),
        }));
        cols.extend(self.fields.iter().map(|f| Column {
            name: f.name.clone(),
            ty: f.ty,
            link: None,
        }));
        cols
    }

    /// Formats a customer number: prefix and zero-padded sequence (`M0001042`).
    pub fn format_number(&self, n: i64) -> String {
        format!(
            "{}{:0width$}",
            self.number_prefix,
            n,
            width = self.number_width
        )
    }

    /// The sequence part of a number in this model's format, if it is one.
    pub fn parse_number(&self, number: &str) -> Option<i64> {
        let digits = number.strip_prefix(self.number_prefix.as_str())?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The reasons with some kinds' lists replaced (the lists managers edit, kept in the
    /// database): kind → reasons.
    pub fn with_reasons(
        &self,
        overrides: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = self
            .reasons
            .iter()
            .map(|(k, list)| {
                (
                    k.clone(),
                    overrides.get(k).cloned().unwrap_or_else(|| list.clone()),
                )
            })
            .collect();
        for (k, list) in overrides {
            if !out.iter().any(|(name, _)| name == k) {
                out.push((k.clone(), list.clone()));
            }
        }
        out
    }

    pub fn reasons_for(&self, kind: &str) -> &[String] {
        self.reasons
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(&[], |(_, r)| r.as_slice())
    }
}

/// Which rows a rule looks at for a customer (or, for record deletion, for a record).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSubject {
    /// Records of `kind` that belong to the customer: through `link` when given (a link of the
    /// kind that points at customers), otherwise along the owner chain.
    Records { kind: String, link: Option<String> },
    /// Customers whose link `link` points at this customer (a company's subsidiaries).
    Customers { link: String },
    /// Deleting a record of kind `record`: records of `kind` under the same owner.
    Siblings { record: String, kind: String },
}

/// How a user may resolve a rule's items during the operation instead of being blocked.
#[derive(Debug, Clone, Serialize)]
pub struct Resolve {
    /// `complete` sets these fields.
    pub complete: Vec<(String, Value)>,
}

/// A `[[rule]]`: a blocker of some operations.
#[derive(Debug, Clone, Serialize)]
pub struct RuleDef {
    pub id: String,
    pub on: Vec<Operation>,
    pub subject: RuleSubject,
    /// Customer kinds the rule applies to (all when empty).
    pub customer_kinds: Vec<String>,
    /// Row predicate: which rows count.
    #[serde(serialize_with = "ser_rule")]
    pub when: Option<Rule>,
    /// Aggregate condition over the counted rows.
    #[serde(serialize_with = "ser_rule")]
    pub having: Option<Rule>,
    /// Message template: `{count}` and `{amount}` are filled in.
    pub message: String,
    /// The money field summed for the dialog.
    pub amount: Option<String>,
    pub resolve: Option<Resolve>,
}

fn ser_rule<S: serde::Serializer>(r: &Option<Rule>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(r) => s.serialize_str(r.source()),
        None => s.serialize_none(),
    }
}

/// A checked model file.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    pub name: String,
    /// The currency of money fields (`EUR`), for display; none given: plain amounts.
    pub currency: Option<String>,
    pub delete: DeleteMode,
    pub purge: PurgeMode,
    pub purge_retention_days: u32,
    pub default_view: View,
    pub customer: CustomerModel,
    /// Record kinds, every kind after the kinds it links to.
    pub records: Vec<RecordKind>,
    pub rules: Vec<RuleDef>,
    pub permissions: Permissions,
    /// Customer columns an erased customer's tombstone keeps besides id, number and kind.
    pub tombstone: Vec<String>,
    /// Days a privacy request keeps the requester's contact and notes after it is closed
    /// (`[privacy] keep_requests_days`, default 365); then only what proves it was done.
    pub keep_requests_days: u32,
    /// `[[schedule]]`s: retention that runs.
    pub schedules: Vec<Schedule>,
    /// The model file's text, as read.
    #[serde(skip)]
    pub source: String,
}

/// A column holding personal data: its table (`customers` or a record kind), its column, and
/// whether it identifies a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonalColumn {
    pub table: String,
    pub column: String,
    pub identifying: bool,
}

impl Model {
    /// Every column the model marks as personal data, customers first, then each record kind.
    pub fn personal_columns(&self) -> Vec<PersonalColumn> {
        let mut out = Vec::new();
        for c in &self.customer.personal {
            out.push(PersonalColumn {
                table: "customers".into(),
                column: c.clone(),
                identifying: self.customer.identifying.contains(c),
            });
        }
        for f in self
            .customer
            .fields
            .iter()
            .filter(|f| f.personal || f.identifying)
        {
            out.push(PersonalColumn {
                table: "customers".into(),
                column: f.name.clone(),
                identifying: f.identifying,
            });
        }
        for k in &self.records {
            for f in k.fields.iter().filter(|f| f.personal || f.identifying) {
                out.push(PersonalColumn {
                    table: k.name.clone(),
                    column: f.name.clone(),
                    identifying: f.identifying,
                });
            }
        }
        out
    }

    pub fn record(&self, name: &str) -> Option<&RecordKind> {
        self.records.iter().find(|r| r.name == name)
    }

    /// The chain of kinds from `kind` up to the customer: `[process, contract, application]`.
    pub fn owner_chain<'a>(&'a self, kind: &'a RecordKind) -> Vec<&'a RecordKind> {
        let mut chain = vec![kind];
        let mut current = kind;
        while let Target::Record(owner) = &current.owner.target {
            match self.record(owner) {
                Some(next) if chain.len() <= self.records.len() => {
                    chain.push(next);
                    current = next;
                }
                _ => break,
            }
        }
        chain
    }

    /// Record kinds owned directly by `target`.
    pub fn owned_by<'a>(&'a self, target: &'a Target) -> impl Iterator<Item = &'a RecordKind> {
        self.records
            .iter()
            .filter(move |r| &r.owner.target == target)
    }

    /// Rules that apply to an operation.
    pub fn rules_for(&self, op: Operation) -> impl Iterator<Item = &RuleDef> {
        self.rules.iter().filter(move |r| r.on.contains(&op))
    }
}

/// Chooses the words of a rule's message for a count: every `{one|many}` becomes `one` when
/// the count is 1 and `many` otherwise ("{count} open {order|orders}" → "1 open order").
/// Other placeholders (`{count}`, `{amount}`) are left for the caller.
pub fn plural(template: &str, count: i64) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        out.push_str(&rest[..open]);
        let inner = &rest[open + 1..close];
        match inner.split_once('|') {
            Some((one, many)) => out.push_str(if count == 1 { one } else { many }),
            None => out.push_str(&rest[open..=close]),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod plural_tests {
    use super::plural;

    #[test]
    fn one_and_many_are_chosen_by_the_count() {
        let t = "{count} open {order|orders} ({amount})";
        assert_eq!(plural(t, 1), "{count} open order ({amount})");
        assert_eq!(plural(t, 0), "{count} open orders ({amount})");
        assert_eq!(plural(t, 7), "{count} open orders ({amount})");
        assert_eq!(plural("no braces", 2), "no braces");
        assert_eq!(plural("unclosed {x|y", 1), "unclosed {x|y");
    }
}
