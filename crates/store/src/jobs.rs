//! Background jobs: a lifecycle operation asked for with `"background": true` runs later, on
//! the server's job runner, and is watched through its row in the **job book**.
//!
//! The book is a table `offboard_jobs`: in PostgreSQL in the database itself; in SQLite in a
//! file next to it (`FILE.jobs`), because a running job holds the database file's one write
//! lock for as long as its transaction is open, and its progress, a cancellation or the next
//! submitted job must still be written and read meanwhile. What a job *did* is written into
//! the database itself, inside the job's transaction (`offboard_job_results`): a job whose
//! result is not there did not commit, so after a crash "nothing of it was applied" is true.

use offboard_model::rule::Dialect;
use offboard_model::{DateTime, FieldType, Value};
use serde::Serialize;

use crate::db::{ph, Db};
use crate::error::StoreError;
use crate::DbUrl;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for the job before it to finish.
    Queued,
    Running,
    /// Ran to its end (its plan says what it did).
    Succeeded,
    /// Ended with an error; nothing of it was applied.
    Failed,
    /// Was running when its server stopped; nothing of it was applied.
    Interrupted,
    /// Cancelled before it committed; nothing of it was applied.
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Interrupted,
        JobStatus::Cancelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Interrupted => "interrupted",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|j| j.name() == s)
    }

    /// Whether the job is over (it will not change any more).
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// How far a running job is: `done` of `total` in its current phase (`total` 0 when the
/// phase has no count known in advance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct JobProgress {
    pub done: i64,
    pub total: i64,
}

/// A job as the book holds it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub operation: String,
    pub status: JobStatus,
    pub actor: String,
    /// The role the actor had when the job was asked for; the job runs as it.
    #[serde(skip)]
    pub role: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The phase it is in (candidates, blockers, orphan_fixpoint, effects, audit, commit),
    /// or, queued, what it waits for.
    pub phase: Option<String>,
    pub progress: JobProgress,
    /// The request, as it will be (or was) run.
    pub request: serde_json::Value,
    /// The operation's plan once it finished (the synchronous call's answer).
    pub plan: Option<serde_json::Value>,
    /// The error shape, when it failed, was cancelled or interrupted.
    pub error: Option<serde_json::Value>,
    /// Whether a cancellation was asked for and the job has not reached it yet.
    pub cancel_requested: bool,
}

const COLUMNS: &str = "id, operation, status, actor, role, created_at, started_at, finished_at, phase, done, total, request, plan, error, cancel_requested";
const TYPES: [FieldType; 15] = [
    FieldType::Int,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Int,
    FieldType::Int,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Int,
];

fn job_of(r: Vec<Value>) -> Job {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let json = |v: &Value| v.as_str().and_then(|s| serde_json::from_str(s).ok());
    Job {
        id: r[0].as_i64().unwrap_or(0),
        operation: text(&r[1]).unwrap_or_default(),
        status: r[2]
            .as_str()
            .and_then(JobStatus::parse)
            .unwrap_or(JobStatus::Failed),
        actor: text(&r[3]).unwrap_or_default(),
        role: text(&r[4]).unwrap_or_default(),
        created_at: text(&r[5]).unwrap_or_default(),
        started_at: text(&r[6]),
        finished_at: text(&r[7]),
        phase: text(&r[8]),
        progress: JobProgress {
            done: r[9].as_i64().unwrap_or(0),
            total: r[10].as_i64().unwrap_or(0),
        },
        request: json(&r[11]).unwrap_or(serde_json::Value::Null),
        plan: json(&r[12]),
        error: json(&r[13]),
        cancel_requested: r[14].as_i64().unwrap_or(0) != 0,
    }
}

/// A queued job's phase: what it waits for, from the jobs not over yet (`active`).
fn say_waiting(job: &mut Job, active: &[(i64, bool)]) {
    if job.status != JobStatus::Queued {
        return;
    }
    let ahead: Vec<&(i64, bool)> = active.iter().filter(|(id, _)| *id < job.id).collect();
    let running = ahead.iter().find(|(_, r)| *r).map(|(id, _)| *id);
    job.phase = Some(match (ahead.len(), running) {
        (0, _) => "queued: starts next".to_string(),
        (n, Some(r)) => format!(
            "queued: waits for job {r} (running){}; one changing job runs at a time",
            if n > 1 {
                format!(" and {} more before it", n - 1)
            } else {
                String::new()
            }
        ),
        (n, None) => format!("queued: {n} job(s) before it; one changing job runs at a time"),
    });
}

/// The file that holds the job book of a SQLite database file.
pub fn book_path(database: &str) -> String {
    format!("{database}.jobs")
}

/// The SQLite job book's table (PostgreSQL's: migration 0004).
const SQLITE_BOOK: &str = "CREATE TABLE IF NOT EXISTS offboard_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    operation TEXT NOT NULL,
    status TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    phase TEXT,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    request TEXT NOT NULL,
    plan TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS offboard_jobs_status ON offboard_jobs (status, id)";

/// The job book of one database (one connection to it).
pub struct JobBook {
    db: Box<dyn Db>,
    /// SQLite: the database file's path, for the runner's lock file beside it.
    path: Option<String>,
    /// SQLite: the runner's lock, once this book's process is the database's job runner.
    runner: Option<std::fs::File>,
}

/// PostgreSQL: the advisory lock the one job runner of a database holds. (7204531 is the
/// migration's, 7204532 the audit log's.)
const RUNNER_LOCK: i64 = 7_204_533;

/// Why nothing was applied when a job's server stopped under it.
pub const INTERRUPTED: &str = "the server stopped while the job ran; the operation is one transaction, so nothing of it was applied";

impl JobBook {
    /// Opens the job book of the database at `url`, creating its table if needed.
    pub fn open(url: &str) -> Result<JobBook, StoreError> {
        let path = match DbUrl::parse(url)? {
            DbUrl::Sqlite(p) if p != ":memory:" && !p.starts_with("file:") => Some(p),
            _ => None,
        };
        let mut db: Box<dyn Db> = match DbUrl::parse(url)? {
            DbUrl::Sqlite(path) if path == ":memory:" => {
                Box::new(crate::sqlite::SqliteDb::open(":memory:")?)
            }
            DbUrl::Sqlite(path) => Box::new(crate::sqlite::SqliteDb::open(&book_path(&path))?),
            DbUrl::Postgres(url) => Box::new(crate::postgres::PgDb::connect(&url)?),
        };
        if db.dialect() == Dialect::Sqlite {
            // PostgreSQL's table comes with the database's migrations (several connections
            // creating it at once would collide); the SQLite book is a file of its own.
            db.batch(SQLITE_BOOK)?;
        }
        Ok(JobBook {
            db,
            path,
            runner: None,
        })
    }

    /// SQLite: the job book's own file and where in it any of `values` is found (the
    /// inventory declares no place here: a hit is a job keeping personal data). `None` on
    /// PostgreSQL, whose job tables are in the database a locate searches anyway.
    pub fn locate(
        &mut self,
        values: &[String],
    ) -> Result<Option<(String, Vec<crate::inventory::Hit>)>, StoreError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let file = book_path(path);
        let hits = crate::inventory::search(self.db.as_mut(), &[], values)?;
        Ok(Some((file, hits)))
    }

    /// Tries to become the database's one job runner (PostgreSQL: an advisory lock of this
    /// connection; SQLite: an exclusive lock on `FILE.runner.lock`), held until the book is
    /// dropped. `false`: another process's runner works on this database now — a second
    /// server must neither run jobs beside it nor take its running job for a dead one.
    pub fn become_runner(&mut self) -> Result<bool, StoreError> {
        if self.db.dialect() == Dialect::Postgres {
            return Ok(self
                .db
                .query_value(
                    &format!("SELECT pg_try_advisory_lock({RUNNER_LOCK})"),
                    &[],
                    FieldType::Bool,
                )?
                .is_some_and(|v| v == Value::Bool(true)));
        }
        if self.runner.is_some() {
            return Ok(true);
        }
        let Some(path) = &self.path else {
            return Ok(true);
        };
        let lock = format!("{path}.runner.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|source| StoreError::Io {
                context: format!("cannot open {lock}"),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {
                self.runner = Some(file);
                Ok(true)
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io {
                context: format!("cannot lock {lock}"),
                source,
            }),
        }
    }

    fn p(&self, n: usize) -> String {
        ph(self.db.dialect(), n)
    }

    /// Queues a job: `operation` asked by `actor` (with `role`), to run `request`.
    pub fn submit(
        &mut self,
        operation: &str,
        actor: &str,
        role: &str,
        request: &serde_json::Value,
    ) -> Result<Job, StoreError> {
        let sql = format!(
            "INSERT INTO offboard_jobs (operation, status, actor, role, created_at, request) VALUES ({}, 'queued', {}, {}, {}, {}) RETURNING id",
            self.p(1),
            self.p(2),
            self.p(3),
            self.p(4),
            self.p(5)
        );
        let id = self.db.query_i64(
            &sql,
            &[
                Value::Text(operation.into()),
                Value::Text(actor.into()),
                Value::Text(role.into()),
                Value::Text(DateTime::now().to_string()),
                Value::Text(request.to_string()),
            ],
        )?;
        self.get(id)?
            .ok_or_else(|| StoreError::NotFound(format!("there is no job {id}")))
    }

    /// One job; a queued one says what it waits for.
    pub fn get(&mut self, id: i64) -> Result<Option<Job>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM offboard_jobs WHERE id = {}",
            self.p(1)
        );
        let Some(row) = self
            .db
            .query(&sql, &[Value::Int(id)], &TYPES)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let mut job = job_of(row);
        self.waiting(&mut job)?;
        Ok(Some(job))
    }

    /// The jobs not over yet, oldest first: (id, running?).
    fn active(&mut self) -> Result<Vec<(i64, bool)>, StoreError> {
        Ok(self
            .db
            .query(
                "SELECT id, status FROM offboard_jobs WHERE status IN ('queued', 'running') ORDER BY id",
                &[],
                &[FieldType::Int, FieldType::Text],
            )?
            .into_iter()
            .filter_map(|r| Some((r[0].as_i64()?, r[1].as_str() == Some("running"))))
            .collect())
    }

    /// A queued job's phase says which job it waits for.
    fn waiting(&mut self, job: &mut Job) -> Result<(), StoreError> {
        if job.status == JobStatus::Queued {
            let active = self.active()?;
            say_waiting(job, &active);
        }
        Ok(())
    }

    /// Jobs, newest first, optionally of one status and operation.
    pub fn list(
        &mut self,
        status: Option<JobStatus>,
        operation: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Job>, StoreError> {
        let mut conds = Vec::new();
        let mut params = Vec::new();
        if let Some(s) = status {
            params.push(Value::Text(s.name().into()));
            conds.push(format!("status = {}", self.p(params.len())));
        }
        if let Some(o) = operation {
            params.push(Value::Text(o.into()));
            conds.push(format!("operation = {}", self.p(params.len())));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM offboard_jobs{} ORDER BY id DESC LIMIT {}",
            if conds.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conds.join(" AND "))
            },
            limit.min(10_000)
        );
        let mut jobs: Vec<Job> = self
            .db
            .query(&sql, &params, &TYPES)?
            .into_iter()
            .map(job_of)
            .collect();
        if jobs.iter().any(|j| j.status == JobStatus::Queued) {
            let active = self.active()?;
            for j in &mut jobs {
                say_waiting(j, &active);
            }
        }
        Ok(jobs)
    }

    /// Takes the oldest queued job and marks it running, unless one runs already.
    pub fn claim_next(&mut self) -> Result<Option<Job>, StoreError> {
        let now = Value::Text(DateTime::now().to_string());
        let sql = format!(
            "UPDATE offboard_jobs SET status = 'running', started_at = {}, phase = 'candidates', done = 0, total = 1
             WHERE id = (SELECT min(id) FROM offboard_jobs WHERE status = 'queued')
               AND NOT EXISTS (SELECT 1 FROM offboard_jobs WHERE status = 'running')
             RETURNING id",
            self.p(1)
        );
        let ids = self.db.query(&sql, &[now], &[FieldType::Int])?;
        match ids.first().and_then(|r| r[0].as_i64()) {
            Some(id) => self.get(id),
            None => Ok(None),
        }
    }

    /// Records where a running job is.
    pub fn progress(
        &mut self,
        id: i64,
        phase: &str,
        done: i64,
        total: i64,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE offboard_jobs SET phase = {}, done = {}, total = {} WHERE id = {} AND status = 'running'",
            self.p(1),
            self.p(2),
            self.p(3),
            self.p(4)
        );
        self.db.execute(
            &sql,
            &[
                Value::Text(phase.into()),
                Value::Int(done),
                Value::Int(total),
                Value::Int(id),
            ],
        )?;
        Ok(())
    }

    /// Ends a job: its final status, plan and error.
    pub fn finish(
        &mut self,
        id: i64,
        status: JobStatus,
        plan: Option<&JobPlan>,
        error: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let plan = plan.map(JobPlan::json);
        let sql = format!(
            "UPDATE offboard_jobs SET status = {}, finished_at = {}, plan = {}, error = {}, phase = NULL, cancel_requested = 0 WHERE id = {}",
            self.p(1),
            self.p(2),
            self.p(3),
            self.p(4),
            self.p(5)
        );
        let text =
            |v: Option<&serde_json::Value>| v.map_or(Value::Null, |v| Value::Text(v.to_string()));
        self.db.execute(
            &sql,
            &[
                Value::Text(status.name().into()),
                Value::Text(DateTime::now().to_string()),
                text(plan),
                text(error),
                Value::Int(id),
            ],
        )?;
        Ok(())
    }

    /// Asks for a job to be cancelled: a queued one is cancelled at once; a running one when it
    /// reaches its next step (its transaction then rolls back). A finished job is refused.
    pub fn cancel(&mut self, id: i64) -> Result<Job, StoreError> {
        let job = self
            .get(id)?
            .ok_or_else(|| StoreError::NotFound(format!("there is no job {id}")))?;
        match job.status {
            JobStatus::Queued => {
                let sql = format!(
                    "UPDATE offboard_jobs SET status = 'cancelled', finished_at = {}, phase = NULL, error = {} WHERE id = {} AND status = 'queued'",
                    self.p(1),
                    self.p(2),
                    self.p(3)
                );
                let error = serde_json::json!({
                    "code": "cancelled",
                    "message": "cancelled before it started; nothing was changed",
                });
                let n = self.db.execute(
                    &sql,
                    &[
                        Value::Text(DateTime::now().to_string()),
                        Value::Text(error.to_string()),
                        Value::Int(id),
                    ],
                )?;
                if n == 0 {
                    // It started meanwhile: cancel it as a running one.
                    return self.cancel(id);
                }
            }
            JobStatus::Running => {
                let sql = format!(
                    "UPDATE offboard_jobs SET cancel_requested = 1 WHERE id = {} AND status = 'running'",
                    self.p(1)
                );
                self.db.execute(&sql, &[Value::Int(id)])?;
            }
            s => {
                return Err(StoreError::Refused(format!(
                    "job {id} is {} already; only a queued or running job can be cancelled",
                    s.name()
                )))
            }
        }
        self.get(id)?
            .ok_or_else(|| StoreError::NotFound(format!("there is no job {id}")))
    }

    /// Whether a cancellation of job `id` was asked for.
    pub fn cancel_requested(&mut self, id: i64) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT cancel_requested FROM offboard_jobs WHERE id = {}",
            self.p(1)
        );
        Ok(self.db.query_i64(&sql, &[Value::Int(id)])? != 0)
    }

    /// After a restart (no job runs now): each job marked running either committed (its
    /// result is in the database: it succeeded) or did not (it is interrupted, and nothing of
    /// it was applied). Returns how many were interrupted.
    pub fn recover(&mut self, database: &mut dyn Db) -> Result<usize, StoreError> {
        let running = self.list(Some(JobStatus::Running), None, 10_000)?;
        let mut interrupted = 0;
        for job in running {
            let sql = format!(
                "SELECT plan FROM offboard_job_results WHERE job_id = {}",
                ph(database.dialect(), 1)
            );
            let plan = database
                .query_value(&sql, &[Value::Int(job.id)], FieldType::Text)?
                .and_then(|v| v.as_str().and_then(|s| serde_json::from_str(s).ok()));
            match plan {
                // Written as a `JobPlan` already.
                Some(plan) => {
                    self.finish(job.id, JobStatus::Succeeded, Some(&JobPlan(plan)), None)?
                }
                None => {
                    let error = serde_json::json!({
                        "code": "interrupted",
                        "message": INTERRUPTED,
                    });
                    self.finish(job.id, JobStatus::Interrupted, None, Some(&error))?;
                    interrupted += 1;
                }
            }
        }
        Ok(interrupted)
    }

    /// Rewrites every plan the book and the results table hold as a [`JobPlan`]: jobs from
    /// before plans were kept without personal values lose them (the job runner does this
    /// as it starts). Returns how many plans changed.
    pub fn strip_personal(
        &mut self,
        database: &mut dyn Db,
        model: &offboard_model::Model,
    ) -> Result<usize, StoreError> {
        let mut changed = 0;
        for (book, table, key) in [
            (true, "offboard_jobs", "id"),
            (false, "offboard_job_results", "job_id"),
        ] {
            let db: &mut dyn Db = if book {
                self.db.as_mut()
            } else {
                &mut *database
            };
            let d = db.dialect();
            let rows = db.query(
                &format!("SELECT {key}, plan FROM {table} WHERE plan IS NOT NULL"),
                &[],
                &[FieldType::Int, FieldType::Text],
            )?;
            for r in rows {
                let (Some(id), Some(text)) = (r[0].as_i64(), r[1].as_str()) else {
                    continue;
                };
                let Ok(plan) = serde_json::from_str::<serde_json::Value>(text) else {
                    continue;
                };
                let kept = JobPlan::of(&plan, model);
                if kept.0 != plan {
                    db.execute(
                        &format!(
                            "UPDATE {table} SET plan = {} WHERE {key} = {}",
                            ph(d, 1),
                            ph(d, 2)
                        ),
                        &[Value::Text(kept.0.to_string()), Value::Int(id)],
                    )?;
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }

    /// The connection, for a lock that makes one runner per database (PostgreSQL).
    pub fn db(&mut self) -> &mut dyn Db {
        self.db.as_mut()
    }
}

/// A plan as the job book keeps it: what was decided, by customer id and number, without a
/// value of a personal field — no name or email, no value of a field the model marks
/// personal, no merge field choices, no text that may quote a customer (`why`, a merge's
/// conflicts). A job's plan is readable by every viewer and outlives an erasure, so it must
/// hold nothing an erasure would have to find; this type is the only way into the book.
#[derive(Debug, Clone)]
pub struct JobPlan(serde_json::Value);

impl JobPlan {
    /// `plan` without personal values (see [`JobPlan`]).
    pub fn of(plan: &serde_json::Value, model: &offboard_model::Model) -> JobPlan {
        let mut personal: std::collections::BTreeSet<String> = model
            .personal_columns()
            .into_iter()
            .map(|c| c.column)
            .collect();
        personal.extend(
            [
                "name",
                "email",
                "phone",
                "fields",
                "why",
                "conflicts",
                "records",
                "values",
            ]
            .map(String::from),
        );
        fn strip(v: &mut serde_json::Value, personal: &std::collections::BTreeSet<String>) {
            match v {
                serde_json::Value::Object(map) => {
                    map.retain(|k, _| !personal.contains(k) && !k.ends_with("_name"));
                    for x in map.values_mut() {
                        strip(x, personal);
                    }
                }
                serde_json::Value::Array(list) => {
                    for x in list {
                        strip(x, personal);
                    }
                }
                _ => {}
            }
        }
        let mut out = plan.clone();
        strip(&mut out, &personal);
        JobPlan(out)
    }

    pub fn json(&self) -> &serde_json::Value {
        &self.0
    }
}

/// Records, inside a job's own transaction, what it did: if the transaction commits, so
/// does this. A job of several operations (the schedules) records each as it commits.
pub fn record_result(database: &mut dyn Db, job: i64, plan: &JobPlan) -> Result<(), StoreError> {
    let plan = plan.json();
    let d = database.dialect();
    database.execute(
        &format!(
            "INSERT INTO offboard_job_results (job_id, plan, finished_at) VALUES ({}, {}, {}) ON CONFLICT (job_id) DO UPDATE SET plan = excluded.plan, finished_at = excluded.finished_at",
            ph(d, 1),
            ph(d, 2),
            ph(d, 3)
        ),
        &[
            Value::Int(job),
            Value::Text(plan.to_string()),
            Value::Text(DateTime::now().to_string()),
        ],
    )?;
    Ok(())
}
