//! offboard's HTTP server: the JSON API under `/api/v1` (OpenAPI at `/api/v1/openapi.json`)
//! and the server-rendered web UI, on one port.
//!
//! The store and engine are synchronous: each request takes a [`Store`] from a small pool
//! and runs on a blocking thread (`spawn_blocking`), so the async server never waits on the
//! database and the engine needs no async rewrite. Every change goes through the engine:
//! permission-checked for the request's user and audited.
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

mod api;
mod auth;
mod error;
mod export;
mod jobs;
mod lifecycle;
mod openapi;
mod privacy;
mod requests;
mod schedules;
mod session;
mod ui;

use std::sync::{Arc, Mutex};

use axum::Router;

use offboard_model::Model;
use offboard_store::{Database, Store};

pub use error::ApiError;

/// Most connections the server holds at once, idle or busy, sized from the machine: four per
/// core (a request spends part of its time outside the database), at least 4 and at most 32
/// (PostgreSQL's `max_connections` is shared with everyone else, 100 by default).
fn default_connections() -> usize {
    std::thread::available_parallelism()
        .map(|n| (n.get() * 4).clamp(4, 32))
        .unwrap_or(8)
}
/// Most lifecycle plans computed at once: a plan holds its candidates in memory, so a burst
/// of purge previews must queue rather than each take its own hundreds of megabytes.
const HEAVY: usize = 2;
/// How long a request waits for a connection or a plan slot before it is answered 503 with
/// `Retry-After`.
const WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// How much the server takes on at once (see [`AppState::limits`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections held at once, idle or busy.
    pub connections: usize,
    /// Lifecycle plans computed at once.
    pub heavy: usize,
    /// How long a request waits for either before a 503.
    pub wait: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: default_connections(),
            heavy: HEAVY,
            wait: WAIT,
        }
    }
}

/// What every request shares: where the database is, the model, and idle connections.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    url: String,
    model: Model,
    /// The connection pool (r2d2), made on first use with `connections` as its size.
    pool: std::sync::OnceLock<r2d2::Pool<Connector>>,
    /// How many connections the pool may hold.
    size: usize,
    /// Whether the session cookie is marked `Secure` (served over HTTPS, behind a proxy).
    secure_cookies: std::sync::atomic::AtomicBool,
    /// Whether the client's address comes from `X-Forwarded-For` (behind a proxy).
    trust_forwarded: std::sync::atomic::AtomicBool,
    /// Failed logins per user name: how many, and since when (a guesser is slowed down).
    failures: Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
    /// One permit per connection the server may hold.
    connections: Arc<tokio::sync::Semaphore>,
    /// One permit per lifecycle plan that may be computed at once.
    heavy: Arc<tokio::sync::Semaphore>,
    /// How long a request waits for a permit.
    wait: std::time::Duration,
    /// The job book, for the requests that queue, show and cancel jobs.
    book: Mutex<Option<offboard_store::jobs::JobBook>>,
    /// Wakes the job runner (a job was queued) and stops it.
    signal: Arc<jobs::Signal>,
    /// The job runner's thread, once started.
    runner: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// A pause after each step of a background job (demonstrations, tests).
    step_delay: std::time::Duration,
    /// How often the scheduler looks for due schedules (`None`: no scheduler).
    scheduler_every: Option<std::time::Duration>,
    /// Stops the scheduler.
    scheduler_signal: Arc<jobs::Signal>,
    scheduler: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Recent list totals (a changing request or a finished job makes them stale).
    counts: Arc<requests::CountCache>,
}

/// Failed logins a user name may have from one address in [`LOCKOUT`] before logins for it
/// from there are refused.
const MAX_FAILURES: u32 = 5;
/// Failed logins one address may have in [`LOCKOUT`], for any names.
const MAX_ADDRESS_FAILURES: u32 = 20;

fn name_key(user: &str, from: Option<std::net::IpAddr>) -> String {
    format!("name {user} from {}", address_key(from))
}

fn address_key(from: Option<std::net::IpAddr>) -> String {
    from.map_or_else(|| "unknown".to_string(), |a| a.to_string())
}
/// How long failed logins count, and how long a name stays refused after too many.
const LOCKOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl Drop for Inner {
    /// Idle connections close on a thread of their own: PostgreSQL's synchronous client
    /// blocks on its own runtime when it closes, which it may not do on the server's.
    fn drop(&mut self) {
        self.signal.stop();
        self.scheduler_signal.stop();
        let idle = self.pool.take();
        let book = match self.book.get_mut() {
            Ok(b) => b.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if idle.is_some() || book.is_some() {
            let _ = std::thread::spawn(move || drop((idle, book))).join();
        }
    }
}

impl AppState {
    /// The database's URL.
    pub(crate) fn url(&self) -> &str {
        &self.0.url
    }

    /// The state for a database whose model is already applied (`first` gives the model;
    /// requests take connections from a pool made on first use).
    pub fn new(url: &str, first: Store) -> AppState {
        let model = first.model().clone();
        AppState(Arc::new(Inner {
            url: url.to_string(),
            model,
            pool: std::sync::OnceLock::new(),
            size: default_connections(),
            secure_cookies: std::sync::atomic::AtomicBool::new(false),
            trust_forwarded: std::sync::atomic::AtomicBool::new(false),
            failures: Mutex::new(std::collections::HashMap::new()),
            connections: Arc::new(tokio::sync::Semaphore::new(default_connections())),
            heavy: Arc::new(tokio::sync::Semaphore::new(HEAVY)),
            wait: WAIT,
            book: Mutex::new(None),
            signal: Arc::new(jobs::Signal::default()),
            runner: Mutex::new(None),
            step_delay: std::time::Duration::ZERO,
            scheduler_every: Some(std::time::Duration::from_secs(60)),
            scheduler_signal: Arc::new(jobs::Signal::default()),
            scheduler: Mutex::new(None),
            counts: Arc::new(requests::CountCache::default()),
        }))
    }

    /// Pauses each background job by `delay` as each phase begins: progress and cancellation
    /// can then be watched on a small database (demonstrations and tests).
    pub fn job_step_delay(mut self, delay: std::time::Duration) -> AppState {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.step_delay = delay;
        }
        self
    }

    /// How often the scheduler looks for due schedules; `None` runs no scheduler (schedules
    /// then run from cron with `offboard schedule run`).
    pub fn scheduler(mut self, every: Option<std::time::Duration>) -> AppState {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.scheduler_every = every;
        }
        self
    }

    /// Starts the scheduler (once), on a thread of its own, when the model has schedules.
    fn start_scheduler(&self) {
        let Some(every) = self.0.scheduler_every else {
            return;
        };
        if self.0.model.schedules.is_empty() {
            return;
        }
        let Ok(mut slot) = self.0.scheduler.lock() else {
            return;
        };
        if slot.is_some() {
            return;
        }
        let s = schedules::Scheduler {
            url: self.0.url.clone(),
            model: self.0.model.clone(),
            every,
            signal: Arc::clone(&self.0.scheduler_signal),
            jobs: Arc::clone(&self.0.signal),
        };
        *slot = std::thread::Builder::new()
            .name("offboard-scheduler".into())
            .spawn(move || s.run())
            .ok();
    }

    /// Starts the job runner (once), on a thread of its own.
    fn start_jobs(&self) {
        let Ok(mut runner) = self.0.runner.lock() else {
            return;
        };
        if runner.is_some() {
            return;
        }
        let r = jobs::Runner {
            url: self.0.url.clone(),
            model: self.0.model.clone(),
            signal: Arc::clone(&self.0.signal),
            step_delay: self.0.step_delay,
            counts: Arc::clone(&self.0.counts),
        };
        *runner = std::thread::Builder::new()
            .name("offboard-jobs".into())
            .spawn(move || r.run())
            .ok();
    }

    /// Stops the job runner after the job it runs (which commits or rolls back).
    fn stop_jobs(&self) -> Option<std::thread::JoinHandle<()>> {
        self.0.scheduler_signal.stop();
        if let Some(s) = self.0.scheduler.lock().ok().and_then(|mut s| s.take()) {
            let _ = s.join();
        }
        self.0.signal.stop();
        self.0.runner.lock().ok().and_then(|mut r| r.take())
    }

    pub(crate) fn counts(&self) -> &requests::CountCache {
        &self.0.counts
    }

    pub(crate) fn jobs_signal(&self) -> &jobs::Signal {
        &self.0.signal
    }

    /// A busy database's answer, naming the background jobs running now (one holds the
    /// database for writing while its transaction is open, on SQLite for all writers):
    /// reads go on meanwhile, and a write may be tried again once it finished.
    fn why_busy(&self, e: ApiError) -> ApiError {
        let running = self
            .with_book(|b| Ok(b.list(Some(offboard_store::jobs::JobStatus::Running), None, 5)?))
            .unwrap_or_default();
        if running.is_empty() {
            return e;
        }
        let jobs: Vec<String> = running
            .iter()
            .map(|j| {
                format!(
                    "job {} ({} by {}, running since {}{})",
                    j.id,
                    j.operation,
                    j.actor,
                    j.started_at.as_deref().unwrap_or("just now"),
                    j.phase
                        .as_deref()
                        .map(|p| format!(", now at {p}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let mut busy = ApiError::busy(format!(
            "the database is held for writing by {}; nothing was changed — reading goes on meanwhile, and this can be tried again once it has finished (GET /api/v1/jobs/{} says when)",
            jobs.join(", "),
            running[0].id
        ));
        busy.details =
            serde_json::json!({ "jobs": running.iter().map(|j| j.id).collect::<Vec<_>>() });
        busy.retry_after = Some(10);
        busy
    }

    /// Runs `f` with the job book (opened on first use; reopened after a failure).
    pub(crate) fn with_book<T>(
        &self,
        f: impl FnOnce(&mut offboard_store::jobs::JobBook) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut guard = self
            .0
            .book
            .lock()
            .map_err(|_| ApiError::internal("the job book failed"))?;
        if guard.is_none() {
            *guard = Some(offboard_store::jobs::JobBook::open(&self.0.url)?);
        }
        let Some(book) = guard.as_mut() else {
            return Err(ApiError::internal("the job book failed"));
        };
        let result = f(book);
        if matches!(&result, Err(e) if e.code == "internal") {
            *guard = None;
        }
        result
    }

    /// Sets how much the server takes on at once (before it is shared).
    pub fn limits(mut self, limits: Limits) -> AppState {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.connections = Arc::new(tokio::sync::Semaphore::new(limits.connections.max(1)));
            inner.size = limits.connections.max(1);
            inner.heavy = Arc::new(tokio::sync::Semaphore::new(limits.heavy.max(1)));
            inner.wait = limits.wait;
        }
        self
    }

    /// Marks the session cookie `Secure`: browsers send it over HTTPS only. For a server
    /// behind an HTTPS proxy (`offboard serve --secure-cookies`).
    pub fn secure_cookies(self, on: bool) -> AppState {
        self.0
            .secure_cookies
            .store(on, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// The `Set-Cookie` value that starts (or, with `None`, ends) a session.
    pub(crate) fn set_cookie_header(&self, secret: Option<&str>) -> String {
        let secure = self
            .0
            .secure_cookies
            .load(std::sync::atomic::Ordering::Relaxed);
        auth::set_cookie(secret, secure)
    }

    /// Counts a login attempt before its password is checked, atomically, and refuses it
    /// (429, with when to retry) when the name failed too often lately from this address, or
    /// the address failed too often for any names. A burst of concurrent guesses gets no more
    /// than [`MAX_FAILURES`] checks; an attacker elsewhere cannot lock the real user out.
    pub(crate) fn login_allowed(
        &self,
        user: &str,
        from: Option<std::net::IpAddr>,
    ) -> Result<(), ApiError> {
        let Ok(mut failures) = self.0.failures.lock() else {
            return Err(ApiError::internal("the login throttle failed"));
        };
        failures.retain(|_, (_, since)| since.elapsed() < LOCKOUT);
        let keys = [
            (name_key(user, from), MAX_FAILURES, format!("`{user}`")),
            (
                address_key(from),
                MAX_ADDRESS_FAILURES,
                "this address".to_string(),
            ),
        ];
        for (key, max, what) in &keys {
            if let Some((n, since)) = failures.get(key) {
                if *n >= *max {
                    return Err(ApiError::new(
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        "too_many_attempts",
                        format!(
                            "too many failed logins for {what}; try again in {} minutes",
                            (LOCKOUT.saturating_sub(since.elapsed())).as_secs() / 60 + 1
                        ),
                    ));
                }
            }
        }
        for (key, _, _) in keys {
            failures
                .entry(key)
                .or_insert((0, std::time::Instant::now()))
                .0 += 1;
        }
        Ok(())
    }

    /// The attempt's outcome: a success forgets the failures it counted; a failure stays.
    pub(crate) fn login_result(&self, user: &str, from: Option<std::net::IpAddr>, ok: bool) {
        if let Ok(mut failures) = self.0.failures.lock() {
            if ok {
                failures.remove(&name_key(user, from));
                if let Some(entry) = failures.get_mut(&address_key(from)) {
                    entry.0 = entry.0.saturating_sub(1);
                }
            }
        }
    }

    /// Trusts `X-Forwarded-For` for the client's address (behind a proxy that sets it).
    pub fn trust_forwarded_for(self, on: bool) -> AppState {
        self.0
            .trust_forwarded
            .store(on, std::sync::atomic::Ordering::Relaxed);
        self
    }

    pub(crate) fn trusts_forwarded_for(&self) -> bool {
        self.0
            .trust_forwarded
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn model(&self) -> &Model {
        &self.0.model
    }

    /// The pool, made on first use (in a blocking thread: it opens a connection at once and
    /// the rest as they are needed).
    fn pool(&self) -> &r2d2::Pool<Connector> {
        self.0.pool.get_or_init(|| {
            r2d2::Pool::builder()
                .max_size(self.0.size as u32)
                .min_idle(Some(1))
                .connection_timeout(self.0.wait)
                // A connection is checked when it comes back (`has_broken`), not on each
                // request: a `SELECT 1` per request would cost more than it saves.
                .test_on_check_out(false)
                .build_unchecked(Connector {
                    url: self.0.url.clone(),
                    model: self.0.model.clone(),
                })
        })
    }

    /// Runs `f` with a store on a blocking thread, once a connection is free (at most
    /// [`MAX_CONNECTIONS`]; 503 with `Retry-After` after waiting [`WAIT`]).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = acquire(
            &self.0.connections,
            self.0.wait,
            "every database connection is in use",
        )
        .await?;
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = state.pool().get().map_err(|e| {
                tracing::warn!(error = %e, "no database connection");
                ApiError::busy(format!(
                    "no database connection could be had ({e}); nothing was changed, try again shortly"
                ))
            })?;
            let result = f(&mut conn.store);
            // A connection that failed is not reused (one still inside a transaction is
            // dropped by `has_broken` when it comes back).
            if matches!(&result, Err(e) if e.code == "internal") {
                conn.broken = true;
            }
            // The database was busy past the wait: say who holds it, when a job does.
            result.map_err(|e| match e.code {
                "busy" => state.why_busy(e),
                _ => e,
            })
        })
        .await
        .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))?
    }

    /// [`run`](Self::run) for a lifecycle operation or its preview: at most [`HEAVY`] at once.
    pub async fn run_heavy<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _slot = acquire(
            &self.0.heavy,
            self.0.wait,
            "other operations are being planned",
        )
        .await?;
        self.run(f).await
    }
}

/// A pooled connection: a store, and whether it must not be used again.
pub(crate) struct Conn {
    store: Store,
    broken: bool,
}

/// Opens the pool's connections: the database was migrated and its model applied when the
/// server started.
struct Connector {
    url: String,
    model: Model,
}

impl r2d2::ManageConnection for Connector {
    type Connection = Conn;
    type Error = offboard_store::StoreError;

    fn connect(&self) -> Result<Conn, offboard_store::StoreError> {
        Ok(Conn {
            store: Database::open(&self.url)?.applied(self.model.clone()),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), offboard_store::StoreError> {
        conn.store.db().query_i64("SELECT 1", &[]).map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || *conn.store.db().depth() != 0
    }
}

/// A permit of `sem`, waiting at most `wait`: then a 503 saying why.
async fn acquire(
    sem: &Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
    why: &str,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    match tokio::time::timeout(wait, Arc::clone(sem).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::busy(format!(
            "the server is busy ({why}); nothing was changed, try again shortly"
        ))),
    }
}

/// The whole application: API and web UI.
/// The largest request body taken (a JSON body or a form; imports go through the CLI).
pub const BODY_LIMIT: usize = 1 << 20;

pub fn router(state: AppState) -> Router {
    use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .merge(api::routes())
        .merge(ui::with_readable_errors(ui::routes(), state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            same_origin,
        ))
        .layer(axum::middleware::from_fn(read_timeout))
        .layer(axum::middleware::from_fn(no_nul_in_uri))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        // Each request is logged (`RUST_LOG`, e.g. `offboard=info,tower_http=info`) under an
        // id the answer carries in `x-request-id`.
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<axum::body::Body>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
                },
            ),
        )
        .layer(SetRequestIdLayer::new(request_id, RequestIds::default()))
        .with_state(state)
}

/// Request ids: a counter, unique within the process.
#[derive(Clone, Default)]
struct RequestIds(Arc<std::sync::atomic::AtomicU64>);

impl tower_http::request_id::MakeRequestId for RequestIds {
    fn make_request_id<B>(
        &mut self,
        _: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        axum::http::HeaderValue::from_str(&format!("r{n}"))
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// `GET /healthz`: the process is up (no credentials, no database).
async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and offboard's tables are current (no credentials).
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let current = state
        .run(|store| Ok(offboard_store::meta::is_current(store.db())?))
        .await?;
    if !current {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database's own tables are not at this offboard's version",
        ));
    }
    Ok(axum::Json(serde_json::json!({ "status": "ready" })))
}

/// How long a reading request (GET, HEAD) may take before it is answered 504.
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Cuts off a reading request that takes longer than [`READ_TIMEOUT`], in the error shape. A
/// changing request is never cut off: its transaction would go on and commit after its client
/// was told it failed; long work belongs in a background job (`"background": true`).
/// Refuses a URI whose path or query holds a NUL byte (`%00`) before any handler runs: no
/// search, id or export can mean one, and a database cannot take one (the store refuses
/// NUL in every value too; this keeps a streamed export from starting at all).
async fn no_nul_in_uri(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let uri = req.uri();
    let holds_nul = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
    };
    if holds_nul(uri.path()) || uri.query().is_some_and(holds_nul) {
        return ApiError::bad_request(
            "the address holds a NUL byte (%00), which no search, id or field can contain; nothing was done",
        )
        .into_response();
    }
    next.run(req).await
}

async fn read_timeout(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    match tokio::time::timeout(READ_TIMEOUT, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than {} s and was stopped; nothing was changed",
                READ_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}

/// Refuses a change (any method but GET and HEAD) that a browser sent from another site:
/// the session cookie alone must not let another page post the UI's forms or the API.
/// Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`); clients that are not
/// browsers send neither and authenticate with a token.
async fn same_origin(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let secure = state
        .0
        .secure_cookies
        .load(std::sync::atomic::Ordering::Relaxed);
    use axum::http::{header, Method};
    use axum::response::IntoResponse;
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let cross_site = text("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none");
    // The origin is the whole `scheme://host`: behind HTTPS (`--secure-cookies`) only
    // `https://host`, else only `http://host`.
    let scheme = if secure { "https" } else { "http" };
    let other_origin = match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (Some(origin), Some(host)) => origin != format!("{scheme}://{host}"),
        (Some(_), None) => true,
        _ => false,
    };
    if cross_site || other_origin {
        return ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "cross_site",
            "a change requested by another site is refused",
        )
        .into_response();
    }
    let res = next.run(req).await;
    // Whatever it changed, the lists' cached totals no longer hold.
    state.counts().changed();
    res
}

/// Serves until Ctrl-C or SIGTERM (or the listener fails).
/// Background jobs run meanwhile; at the end the running job commits or rolls back before
/// this returns (queued ones wait for the next start).
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    serve_until(listener, state, Shutdown::listen()).await
}

/// [`serve`] with the stop signals listened for already: taken before the listener is bound,
/// a SIGTERM that comes as soon as the port answers stops the server cleanly rather than
/// killing it.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    state.start_jobs();
    state.start_scheduler();
    let served = axum::serve(
        listener,
        router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.wait())
    .await;
    if let Some(runner) = state.stop_jobs() {
        tracing::info!("waiting for the running job to commit or roll back");
        let _ = tokio::task::spawn_blocking(move || runner.join()).await;
    }
    served
}

/// Ctrl-C or SIGTERM, listened for from the moment [`Shutdown::listen`] is called (inside the
/// runtime): the server stops accepting, finishes the requests in flight (an operation commits
/// or rolls back in its one transaction), then returns.
pub struct Shutdown {
    terminate: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Shutdown {
    /// Starts listening for the stop signals (their default action, ending the process at
    /// once, no longer applies).
    pub fn listen() -> Shutdown {
        use tokio::signal::unix::{signal, SignalKind};
        Shutdown {
            terminate: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    async fn wait(mut self) {
        let next = |s: &mut Option<tokio::signal::unix::Signal>| {
            let mut s = s.take();
            async move {
                match s.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
        };
        tokio::select! {
            _ = next(&mut self.interrupt) => {}
            _ = next(&mut self.terminate) => {}
        }
        tracing::info!("shutting down: finishing the requests in flight");
    }
}
