//! The command line: global options and every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "offboard",
    version,
    about = "Take customers out of a business system safely: deactivate, delete, restore, transfer, merge and erase."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Database: sqlite://FILE (default sqlite://offboard.db) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "OFFBOARD_DB",
        default_value = "sqlite://offboard.db"
    )]
    pub db: String,
    /// The model file (when it does not exist, the model recorded in the database is used).
    #[arg(long, global = true, default_value = "offboard.toml")]
    pub model: PathBuf,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Act as this user (see `offboard users`); the model's permissions for their role apply.
    /// Without it the CLI acts as the local administrator.
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a preset's model file and create the database.
    Init {
        /// The preset to start from (see `offboard presets`).
        #[arg(long)]
        preset: String,
        /// Overwrite an existing model file.
        #[arg(long)]
        force: bool,
    },
    /// List the shipped presets.
    Presets,
    /// Check a model file and print every problem with line and column.
    Check {
        /// The model file (default: --model).
        file: Option<PathBuf>,
    },
    /// Load CSV files (customers.csv and one <kind>.csv per record kind) from a directory.
    Import { dir: PathBuf },
    /// Write every table as CSV into a directory, in the shape `offboard import` reads; or,
    /// given a file name ending in .xlsx, one workbook with a sheet per table (a report). With
    /// --customer: everything offboard holds about one customer, as one JSON document (a
    /// person's right of access).
    Export {
        /// The directory (or .xlsx file) of a whole export.
        #[arg(required_unless_present = "customer", conflicts_with = "customer")]
        dir: Option<PathBuf>,
        /// One customer, by id or number: its fields, records, links and audit entries.
        #[arg(long)]
        customer: Option<String>,
        /// The format of a customer's export.
        #[arg(long, default_value = "json", value_parser = ["json"], requires = "customer")]
        format: String,
        /// Write a customer's export to this file instead of standard output.
        #[arg(long, requires = "customer")]
        out: Option<PathBuf>,
    },
    /// Copy the database to a new file (SQLite: a database file; PostgreSQL: a pg_dump archive).
    Backup { file: PathBuf },
    /// Bring a backup back (a SQLite file or a pg_dump archive) in the database's place, and
    /// re-apply every erasure and forget logged after the backup was taken, so no one erased
    /// since comes back. The database it replaces is kept beside it under a new name.
    Restore {
        file: PathBuf,
        /// Say what the restore would bring back and re-apply; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask before replacing the database.
        #[arg(long)]
        yes: bool,
    },
    /// Write realistic, deterministic sample data as CSV files.
    Demo(DemoArgs),
    /// Find, show, add and edit customers.
    #[command(subcommand)]
    Customers(CustomersCmd),
    /// Add, show, list and edit records.
    #[command(subcommand)]
    Records(RecordsCmd),
    /// Count customers by status and records by kind.
    Stats,
    /// Run the HTTP JSON API (/api/v1) and the web UI on one port.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Mark the session cookie Secure (HTTPS only), for a server behind an HTTPS proxy.
        #[arg(long)]
        secure_cookies: bool,
        /// Most database connections held at once (default: four per core, 4 to 32;
        /// PostgreSQL's max_connections is shared).
        #[arg(long)]
        max_connections: Option<usize>,
        /// Most lifecycle operations planned at once (each holds its candidates in memory).
        #[arg(long, default_value_t = 2)]
        max_operations: usize,
        /// Take the client's address from X-Forwarded-For (behind a proxy that sets it), for
        /// the login throttle per address.
        #[arg(long)]
        trust_forwarded_for: bool,
        /// Pause each background job this long as each of its phases begins, so its progress
        /// and a cancellation can be watched on a small database (demonstrations, tests).
        #[arg(long, default_value_t = 0, value_name = "MS")]
        job_step_delay_ms: u64,
        /// How often the scheduler looks for due [[schedule]]s (each runs once per period,
        /// as a background job).
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        scheduler_every: u64,
        /// Run no schedules from this server (`offboard schedule run` from cron instead).
        #[arg(long)]
        no_scheduler: bool,
    },
    /// Deactivate customers: blockers checked for each, a reason, open items resolved.
    Deactivate {
        /// Customers by id or number (or choose them with --select-view and friends).
        customers: Vec<String>,
        #[command(flatten)]
        select: Select,
        /// A deactivation reason from the model's list for the customer's kind.
        #[arg(long)]
        reason: Option<String>,
        /// A reason for the customers of one kind, for a selection of kinds with different
        /// lists: `--reason-for company="Company dissolved"` (repeatable; others take --reason).
        #[arg(long, value_name = "KIND=REASON", value_parser = kind_reason)]
        reason_for: Vec<(String, String)>,
        /// What to do with open items the model lets you resolve (open activities).
        #[arg(long, value_parser = ["complete", "remove"])]
        open_activities: Option<String>,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Return deactivated customers to active (clears reason and date).
    Reactivate {
        /// Customers by id or number (or choose them with --select-view and friends).
        customers: Vec<String>,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Delete customers: to the recycle bin, or as the model says (inactivate; erase at once).
    Delete {
        /// Customers by id or number (or choose them with --select-view and friends).
        customers: Vec<String>,
        #[command(flatten)]
        select: Select,
        /// "Move to customer": move transferable data there first (one customer at a time);
        /// when something cannot move, the customer is deactivated instead.
        #[arg(long)]
        move_to: Option<String>,
        /// With --move-to: the deactivation reason, when the customer is deactivated instead.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Bring deleted customers back from the recycle bin.
    Undelete {
        /// Customers by id or number (or choose them with --select-view and friends).
        customers: Vec<String>,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Erase the deleted customers for good (each unless blocked, or as the model says).
    Purge {
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// An erasure request: erase the named customers now, whatever their status, planned as
    /// the purge (what must legally stay blocks it, and the plan says why).
    Erase {
        /// Customers by id or number.
        #[arg(required = true)]
        customers: Vec<String>,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Forget now, purge later: mask every personal field of a customer and of its records at
    /// once (even while an erasure is blocked by what must stay); it keeps its number and
    /// financial history, and the next purge erases it once nothing blocks it.
    Forget {
        /// The customer, by id or number.
        customer: String,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Rewrite what may still hold erased data: SQLite merges the search index, VACUUMs the
    /// file and empties the write-ahead log; PostgreSQL rewrites each customer, record and
    /// audit table (VACUUM FULL, which locks the table while it runs) and takes a checkpoint.
    Compact {
        /// Show what it would rewrite and lock, and for about how long; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Possible duplicates: customers of one kind (not deleted) sharing a normalised email,
    /// phone or name, best first — to merge.
    Duplicates {
        /// What to compare: email, name, phone (comma-separated; default: email and name — a
        /// phone alone is weak evidence, such as a shared office line).
        #[arg(long, value_delimiter = ',')]
        by: Option<Vec<String>>,
        /// Only customers of this kind.
        #[arg(long)]
        kind: Option<String>,
        /// At most this many pairs, best first (0 for all).
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Retention that runs: the model's [[schedule]]s (list, run the due ones — each once per
    /// period, so a cron job may call `schedule run` as often as it likes — and the review
    /// queue: runs a manager approves before they apply).
    #[command(subcommand)]
    Schedule(ScheduleCmd),
    /// Move a customer's transferable records to another customer and repoint its links.
    Transfer {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Only these record kinds (comma-separated).
        #[arg(long, value_delimiter = ',')]
        kinds: Option<Vec<String>>,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Merge duplicates (any number) into one customer: everything moves, the duplicates go
    /// (their ids and numbers then resolve to it); the plan shows each field's candidates and
    /// the value kept (the survivor's unless `--take`, else the most recent non-empty one).
    Merge {
        /// The duplicates, by id or number.
        #[arg(required = true)]
        duplicates: Vec<String>,
        /// The survivor.
        #[arg(long)]
        into: String,
        /// Keep this customer's value of a field: `--take email=1043` (repeatable).
        #[arg(long = "take", value_name = "FIELD=CUSTOMER")]
        take: Vec<String>,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Take back the operation that wrote audit entry SEQ (a deactivation, a delete to the
    /// recycle bin or a merge, or a bulk job of these) while nothing since depends on it;
    /// planned first (what comes back, what cannot and why). Erasures cannot be undone.
    Undo {
        /// Any audit entry of the operation (`offboard audit` lists them).
        entry: i64,
        #[arg(long)]
        dry_run: bool,
        /// Undo only what the dry run with this fingerprint showed (else nothing, exit 1).
        #[arg(long, value_name = "FINGERPRINT", conflicts_with = "dry_run")]
        plan: Option<String>,
    },
    /// People who act in offboard and their roles (viewer, clerk, manager, admin).
    #[command(subcommand)]
    Users(UsersCmd),
    /// The no-resurrection blocklist: identifying values (emails) of erased persons, kept as
    /// keyed digests; such a value may not come back through a new customer, an edit or an
    /// import.
    #[command(subcommand)]
    Blocklist(BlocklistCmd),
    /// Background jobs the server runs: list, show one, cancel one.
    #[command(subcommand)]
    Jobs(JobsCmd),
    /// Privacy requests (access, erasure, correction, restriction): log one, verify the
    /// person, run it, close it with a receipt; due dates and who has it.
    #[command(subcommand)]
    Requests(RequestsCmd),
    /// Where a person still appears: every table and column holding their values (a
    /// customer `#ID`/number, or an email), and with --bytes the database files themselves.
    Locate {
        /// A customer (#ID, number), an email address, or any other value (a name, a phone).
        who: String,
        /// Also scan the database files byte by byte (SQLite: the file and its write-ahead
        /// log; PostgreSQL: the relation files, read through the server — superuser).
        #[arg(long)]
        bytes: bool,
    },
    /// The audit log: every change, hash-chained, newest first — filtered by customer,
    /// operation, user and days, a page at a time (--before the last entry shown).
    Audit {
        #[command(subcommand)]
        cmd: Option<AuditCmd>,
        #[command(flatten)]
        filter: AuditFilterArgs,
    },
}

/// Which audit entries `audit` lists: filters and a page.
#[derive(Debug, Args)]
pub struct AuditFilterArgs {
    /// Only entries about this customer (id).
    #[arg(long)]
    pub customer: Option<i64>,
    /// Only entries about the customer with this number (an erased one's too).
    #[arg(long)]
    pub number: Option<String>,
    /// Only entries of this operation: deactivate, delete, merge, edit, import, set-role, ...
    #[arg(long)]
    pub operation: Option<String>,
    /// Only entries by this user.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Only the last N days, today included.
    #[arg(long, value_name = "N")]
    pub days: Option<i32>,
    /// From this day on (YYYY-MM-DD).
    #[arg(long, value_name = "DAY")]
    pub from: Option<String>,
    /// Up to this day (YYYY-MM-DD).
    #[arg(long, value_name = "DAY")]
    pub to: Option<String>,
    /// The next page: entries before this one (the SEQ of the last entry shown).
    #[arg(long, value_name = "SEQ")]
    pub before: Option<i64>,
    /// At most this many entries (0: all).
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
}

/// Chooses the customers of a bulk operation instead of listing them: every customer of a
/// view, optionally of one kind and matching a search, at most --select-limit of them.
#[derive(Debug, Args)]
pub struct Select {
    /// active, deactivated, current, deleted or all.
    #[arg(long)]
    pub select_view: Option<String>,
    #[arg(long)]
    pub select_kind: Option<String>,
    #[arg(long)]
    pub select_search: Option<String>,
    #[arg(long)]
    pub select_limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Show the plan without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask first. At a terminal an operation that erases (a purge, an erasure, a hard
    /// delete) shows its plan and asks; the others never ask.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Apply only what the plan with this fingerprint (from `--dry-run`) showed: when the
    /// plan would now differ, nothing is changed and the new plan is shown (exit 1).
    #[arg(long, value_name = "FINGERPRINT", conflicts_with = "dry_run")]
    pub plan: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Jobs, newest first.
    List {
        /// queued, running, succeeded, failed, interrupted or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// deactivate, reactivate, delete, undelete, purge, transfer, merge or record_delete.
        #[arg(long)]
        operation: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// One job: its status, phase and progress, and its plan or error once it ended.
    Show { id: i64 },
    /// Cancel a job that has not committed: a queued one at once, a running one at its next
    /// step (its transaction rolls back; nothing is changed).
    Cancel { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain: detects an edited or removed entry. With --receipt, check a
    /// privacy request's receipt as well: its seal, its place in the chain, the request.
    Verify {
        #[arg(long, value_name = "FILE")]
        receipt: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestsCmd {
    /// Log a request as it came in (permission `edit`: whoever takes the call).
    Add {
        /// access, erasure, correction or restriction (stop using my data: forget and block).
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// The email (or phone) the request came with; it finds the customer when one has it.
        #[arg(
            long,
            conflicts_with = "customer",
            required_unless_present = "customer"
        )]
        email: Option<String>,
        /// The customer (#ID or number), when known.
        #[arg(long)]
        customer: Option<String>,
        /// The name the person gave.
        #[arg(long)]
        name: Option<String>,
        /// When it was received, YYYY-MM-DD (default today): it is due 30 days later.
        #[arg(long)]
        received: Option<String>,
        /// The user who handles it.
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Requests, the most urgent first.
    List {
        /// received, verified, in_progress, completed or refused.
        #[arg(long)]
        status: Option<String>,
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// Only open requests past their due date.
        #[arg(long)]
        overdue: bool,
        /// Only open requests.
        #[arg(long)]
        open: bool,
    },
    /// One request, with its due date, verification, outcome and receipt.
    Show { id: i64 },
    /// Record how the person's identity was verified (nothing is released or erased before).
    VerifyIdentity {
        id: i64,
        #[arg(long)]
        method: String,
    },
    /// Give the request to a user.
    Assign { id: i64, user: String },
    /// Extend the due date to 90 days after receipt, once, for a reason.
    Extend {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Do what it asks: access → the package (--out FILE); erasure → erase, or forget when
    /// something must legally stay; restriction → forget and block; correction → --set.
    Run {
        id: i64,
        /// Show what it would do; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// A correction: FIELD=VALUE (repeatable).
        #[arg(long, value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Access: write the package (everything held, JSON) here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Close a request that ran (or found nobody) with its receipt.
    Complete { id: i64 },
    /// Refuse it, for a reason the person is told.
    Refuse {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Write the receipt of a completed request: JSON (`--out receipt.json`), or the
    /// human-readable summary with `--html`.
    Receipt {
        id: i64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        html: bool,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The preset whose schema the data has (default: the --model file).
    #[arg(long)]
    pub preset: Option<String>,
    #[arg(long, default_value_t = 1000)]
    pub customers: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory to write the CSV files to (created if missing).
    #[arg(long, default_value = "data")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct Paging {
    /// At most this many (0: every match, streamed).
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    /// Skip this many first.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
}

#[derive(Debug, Subcommand)]
pub enum CustomersCmd {
    /// List customers of a view, optionally searched.
    List {
        /// active, deactivated, current (both), deleted (the recycle bin) or all.
        #[arg(long)]
        view: Option<String>,
        /// Name or email containing this (any case), or this exact number.
        #[arg(long, short)]
        search: Option<String>,
        /// Only customers of this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Sort by number, name, created_at, status or id (the default); a leading - sorts
        /// descending: --sort=-created_at.
        #[arg(long, allow_hyphen_values = true)]
        sort: Option<String>,
        /// Only customers after this one (its id) in the list's order (keyset paging).
        #[arg(long)]
        after: Option<i64>,
        /// Export the whole view (paging ignored) with each customer's record counts per
        /// kind: csv (to --out, or standard output) or xlsx (to --out).
        #[arg(long, value_parser = ["table", "csv", "xlsx"], default_value = "table")]
        format: String,
        /// The file an export goes to.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one customer (by id, or by number) and its records per kind.
    Show { customer: String },
    /// Add a customer.
    Add {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        name: String,
        /// A number given by hand (default: the next in sequence).
        #[arg(long)]
        number: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Other fields and links: --set company_id=17 --set phone=555-0100
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
    },
    /// Change a customer's fields (deleted customers too).
    Edit {
        customer: String,
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecordsCmd {
    /// The records recycle bin: records deleted for good, newest first (of one customer).
    Bin {
        #[arg(long)]
        customer: Option<String>,
    },
    /// Bring records back from the bin (by bin entry), in order; each unless its owner is
    /// gone, its number is in use again, or (an ordered kind) it would not be the newest.
    Restore {
        #[arg(required = true)]
        entries: Vec<i64>,
        #[arg(long)]
        dry_run: bool,
        /// Apply only what the dry run with this fingerprint showed: when it would now
        /// differ, nothing is restored and the new plan is shown (exit 1).
        #[arg(long, value_name = "FINGERPRINT", conflicts_with = "dry_run")]
        plan: Option<String>,
    },
    /// Add a record: offboard records add order --set customer_id=17 --set stage=OPEN
    Add {
        kind: String,
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
    },
    /// Show one record.
    Show { kind: String, id: i64 },
    /// List a customer's records of a kind (`--customer 4`), or those under one owner record,
    /// newest first, as a contract's payments: `records list payment --contract 43`.
    List {
        kind: String,
        /// The customer (id or number).
        #[arg(long)]
        customer: Option<String>,
        #[command(flatten)]
        paging: Paging,
        /// `--OWNER ID`: the records under this owner record (the owner's name, as in
        /// `records delete`).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "--OWNER ID"
        )]
        owner: Vec<String>,
    },
    /// Delete records: by id (`records delete process 88`), every record under one owner
    /// (`--contract 17`), or from a date-time on (`--contract 17 --from "2024-02-01T00:00"`).
    /// Refused, naming what blocks, while anything depends on them; `--dry-run` plans only,
    /// `--plan FINGERPRINT` applies only what that dry run showed.
    Delete {
        kind: String,
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "IDS | --OWNER ID [--from VALUE]"
        )]
        args: Vec<String>,
    },
    /// Change a record's fields.
    Edit {
        kind: String,
        id: i64,
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// The model's schedules: what each does, whether it is due, its last run.
    List,
    /// Run every schedule that is due (it has not run in this period), or one.
    Run {
        /// Only this schedule (its id).
        #[arg(long = "id")]
        schedule: Option<String>,
        /// Run even when it already ran in this period.
        #[arg(long)]
        force: bool,
        /// Show what each schedule would do now; change and record nothing.
        #[arg(long)]
        dry_run: bool,
        /// With --id: run only as the dry run with this fingerprint showed; when its plan
        /// would now differ, nothing is applied (the run fails, saying so).
        #[arg(
            long,
            value_name = "FINGERPRINT",
            conflicts_with = "dry_run",
            requires = "schedule"
        )]
        plan: Option<String>,
    },
    /// Past runs, newest first.
    Runs {
        /// Only this schedule's.
        #[arg(long = "id")]
        schedule: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Runs waiting for approval, with the customers each proposes.
    Reviews,
    /// Approve a run waiting for review: its operation applies to the customers it proposed
    /// that still match.
    Approve {
        run: i64,
        /// Show what the approval would do now; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply only what the dry run with this fingerprint showed: when the approval would
        /// now differ, nothing is applied and the new plan is shown (exit 1).
        #[arg(long, value_name = "FINGERPRINT", conflicts_with = "dry_run")]
        plan: Option<String>,
    },
    /// Reject a run waiting for review: nothing is applied.
    Reject { run: i64 },
}

#[derive(Debug, Subcommand)]
pub enum BlocklistCmd {
    /// How many values it holds, per field.
    List,
    /// Let one value come back (audited, without the value): `--email ann@example.com`, or
    /// `--field FIELD --value VALUE` for another identifying field.
    Lift {
        #[arg(long, conflicts_with_all = ["field", "value"], required_unless_present = "field")]
        email: Option<String>,
        #[arg(long, requires = "value")]
        field: Option<String>,
        #[arg(long, requires = "field")]
        value: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Add a user with a role.
    Add {
        name: String,
        #[arg(long)]
        role: String,
    },
    /// Change a user's role.
    Role {
        name: String,
        #[arg(long)]
        role: String,
    },
    /// List users.
    List,
    /// Set a user's password for the web UI (read from standard input, one line).
    Password { name: String },
    /// Create an API token for a user (for the HTTP API's `Authorization: Bearer`); shown once.
    Token {
        name: String,
        /// What the token is for ("billing sync").
        #[arg(long)]
        label: Option<String>,
    },
    /// Remove every API token of a user (and end their sessions), or with `--token ID` one
    /// token (its id from `users tokens`).
    Revoke {
        name: String,
        /// The one token to revoke (the id `users tokens` lists).
        #[arg(long, value_name = "ID")]
        token: Option<String>,
    },
    /// List API tokens (of one user, or of everyone): ids, labels and dates, never secrets.
    Tokens { name: Option<String> },
    /// Disable a user: kept (the audit log names them), but unable to log in or use a token.
    Disable { name: String },
    /// Enable a disabled user again.
    Enable { name: String },
    /// Remove a user with their tokens and sessions (the audit log keeps their name).
    Remove {
        name: String,
        /// Do not ask first (at a terminal, removing a user asks).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `KIND=REASON` of `--reason-for`.
fn kind_reason(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, r)) if !k.trim().is_empty() && !r.trim().is_empty() => {
            Ok((k.trim().to_string(), r.trim().to_string()))
        }
        _ => Err(format!(
            "`{s}` is not KIND=REASON, e.g. company=\"Company dissolved\""
        )),
    }
}
