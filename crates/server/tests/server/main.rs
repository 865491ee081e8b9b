//! The HTTP API and the web UI, through real HTTP on a local port, on both backends.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::{json, Value};

use offboard_model::presets::preset;
use offboard_model::Model;
use offboard_store::Database;
use offboard_testkit::{conformance, TestDb};

mod browser;
mod fuzz;
mod guarantees;
mod jobs;
mod lists;
mod load;
mod matrix;
mod ops;
mod privacy;
mod schedules;
mod strict;

/// A server on a free local port, with an admin (password "admin-pass") and tokens for an
/// admin and a viewer.
struct Server {
    addr: SocketAddr,
    admin: String,
    viewer: String,
    _runtime: tokio::runtime::Runtime,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn start(db: &TestDb, name: &str, files: &[(&str, &str)]) -> Server {
    start_with(db, name, files, |s| s)
}

/// [`start`] with the server's state set up by `setup` (limits, secure cookies, ...).
fn start_with(
    db: &TestDb,
    name: &str,
    files: &[(&str, &str)],
    setup: impl FnOnce(offboard_server::AppState) -> offboard_server::AppState,
) -> Server {
    let model = Model::parse(name, preset(name).unwrap().source).unwrap();
    start_model(db, model, files, setup)
}

/// [`start_with`] for a model of the test's own.
fn start_model(
    db: &TestDb,
    model: Model,
    files: &[(&str, &str)],
    setup: impl FnOnce(offboard_server::AppState) -> offboard_server::AppState,
) -> Server {
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
    store.add_user("ada", "admin").unwrap();
    store.set_password("ada", "admin-pass").unwrap();
    store.add_user("vic", "viewer").unwrap();
    store.set_password("vic", "viewer-pass").unwrap();
    let admin = store.create_token("ada", Some("tests")).unwrap();
    let viewer = store.create_token("vic", None).unwrap();
    let state = setup(offboard_server::AppState::new(&db.url, store));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(offboard_server::serve(listener, state));
    Server {
        addr,
        admin,
        viewer,
        _runtime: runtime,
    }
}

/// One HTTP/1.1 request over a fresh connection.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    // Read to the end of the body: by its Content-Length when given (some servers, such as
    // ChromeDriver, keep the connection open after answering), else to the close.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        if length.is_some_and(|len| raw.len() >= end + 4 + len) {
            break;
        }
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let rest = &raw[split + 4..];
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    // The body's bytes (chunks joined), then as text (a binary body: lossily).
    let bytes = if chunked {
        let mut out = Vec::new();
        let mut rest = rest;
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = String::from_utf8_lossy(&rest[..eol]).into_owned();
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let after = &rest[eol + 2..];
            if n == 0 || after.len() < n {
                break;
            }
            out.extend_from_slice(&after[..n]);
            rest = &after[(n + 2).min(after.len())..];
        }
        out
    } else {
        rest.to_vec()
    };
    let body = String::from_utf8_lossy(&bytes).into_owned();
    Reply {
        status,
        headers,
        body,
    }
}

impl Server {
    fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        request(self.addr, method, path, headers, body)
    }

    fn api(&self, method: &str, path: &str, token: &str, body: Value) -> Reply {
        let auth = format!("Bearer {token}");
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        self.call(
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            &body,
        )
    }

    /// Logs in through the web UI's form; the session cookie (`name=value`).
    fn session(&self, user: &str, password: &str) -> String {
        let r = self.call(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &format!("user={user}&password={password}"),
        );
        r.header("set-cookie")
            .unwrap_or_else(|| panic!("{user} could not log in: {} {}", r.status, r.body))
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }

    /// A web UI request with a session cookie (and a form body, when given).
    fn page(&self, method: &str, path: &str, cookie: &str, form: &str) -> Reply {
        self.call(
            method,
            path,
            &[
                ("Cookie", cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form,
        )
    }
}

fn legal() -> Vec<(&'static str, &'static str)> {
    vec![
        ("customers.csv", "id,number,kind,name,status\n11,K11,person,Bo Owes,active\n14,K14,person,Ed Clean,active\n15,K15,person,Fay Gone,deleted\n"),
        ("invoice.csv", "id,customer_id,number,total,balance,issued_on\n1,11,1,10000,2500,2024-01-01\n"),
        ("activity.csv", "id,customer_id,subject,critical,done,due_on\n2,14,Call back,0,0,2024-05-01\n"),
    ]
}

conformance!(
    the_api_needs_credentials_and_answers_errors_as_json,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let r = s.call("GET", "/api/v1/customers", &[], "");
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"]["code"], "unauthenticated");
        let r = s.api("GET", "/api/v1/customers", "obt_not-a-token", Value::Null);
        assert_eq!(r.status, 401);
        let r = s.api("GET", "/api/v1/customers?view=all", &s.viewer, Value::Null);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["total"], 3);
        let r = s.api("GET", "/api/v1/customers/999", &s.admin, Value::Null);
        assert_eq!(r.status, 404);
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("999"));
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.viewer,
            json!({ "customers": [14], "reason": "Moved away" }),
        );
        assert_eq!(r.status, 403);
        assert_eq!(r.json()["error"]["code"], "forbidden");
        let r = s.api(
            "GET",
            "/api/v1/customers?view=nowhere",
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 400);
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [14], "open_activities": "complete" }),
        );
        assert_eq!(r.status, 422, "a reason is needed: {}", r.body);
        // Any content type, an empty body; malformed input still answers in the JSON shape.
        let auth = format!("Bearer {}", s.admin);
        let r = s.call("POST", "/api/v1/purge", &[("Authorization", &auth)], "");
        assert_eq!(r.status, 409, "legal has no purge: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "refused");
        let r = s.call(
            "POST",
            "/api/v1/deactivate",
            &[("Authorization", &auth)],
            "{oops",
        );
        assert_eq!(r.status, 400);
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JSON"));
        let r = s.api("GET", "/api/v1/customers/abc", &s.admin, Value::Null);
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"]["code"], "bad_request");
        let r = s.api("GET", "/api/v1/nothing-here", &s.admin, Value::Null);
        assert_eq!(
            (r.status, r.json()["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        // A change another site's page asks a browser to make is refused, cookie or not.
        let r = s.call(
            "POST",
            "/api/v1/purge",
            &[("Authorization", &auth), ("Origin", "http://evil.example")],
            "",
        );
        assert_eq!(
            (r.status, r.json()["error"]["code"].as_str()),
            (403, Some("cross_site"))
        );
        let r = s.call("POST", "/logout", &[("Sec-Fetch-Site", "cross-site")], "");
        assert_eq!(r.status, 403);
        let doc = s.call("GET", "/api/v1/openapi.json", &[], "").json();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/v1/purge"]["post"].is_object());
    }
);

conformance!(
    lifecycle_operations_over_the_api_return_plans,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let dry = s
        .api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [11, 14], "reason": "Moved away", "open_activities": "complete", "dry_run": true }),
        )
        .json();
        assert_eq!(dry["deactivated"], 1);
        assert_eq!(dry["blocked_by_rule"]["open-invoices"], 1);
        let blocked = dry["customers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == 11)
            .unwrap();
        assert_eq!(blocked["blockers"][0]["amount"], 2500);
        let done = s
            .api(
                "POST",
                "/api/v1/deactivate",
                &s.admin,
                json!({ "customers": [14], "reason": "Moved away", "open_activities": "complete" }),
            )
            .json();
        assert_eq!(done["deactivated"], 1);
        let c = s
            .api("GET", "/api/v1/customers/14", &s.admin, Value::Null)
            .json();
        assert_eq!(c["status"], "deactivated");
        assert_eq!(c["deactivation_reason"], "Moved away");
        assert_eq!(c["records"]["activity"], 1);
        let r = s.api(
            "PATCH",
            "/api/v1/customers/15",
            &s.admin,
            json!({ "email": "fay@example.com" }),
        );
        assert_eq!(
            r.status, 200,
            "a deleted customer stays editable: {}",
            r.body
        );
        let r = s.api(
            "POST",
            "/api/v1/customers",
            &s.admin,
            json!({ "kind": "company", "name": "New Co" }),
        );
        assert_eq!(r.status, 201);
        let log = s.api("GET", "/api/v1/audit", &s.admin, Value::Null).json();
        let ops: Vec<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["operation"].as_str().unwrap())
            .collect();
        assert_eq!(ops[..3], ["create", "edit", "deactivate"]);
        assert_eq!(log[2]["actor"], "ada");
        assert_eq!(
            s.api("GET", "/api/v1/audit/verify", &s.admin, Value::Null)
                .json()["ok"],
            true
        );
        let r = s.api("GET", "/api/v1/audit", &s.viewer, Value::Null);
        assert_eq!(r.status, 403, "the audit log is for managers");
    }
);

conformance!(
    the_web_ui_logs_in_and_runs_the_deactivate_dialog,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let r = s.call("GET", "/customers/10", &[], "");
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/login?next=%2Fcustomers%2F10"))
        );
        // A session that ended (revoked, expired) while a dialog was open: its form's answer
        // is a whole-page login (htmx follows HX-Redirect), which says so and leads back to
        // the page beneath the dialog.
        let r = s.call(
            "POST",
            "/deactivate",
            &[
                ("Cookie", "offboard_session=ended"),
                ("HX-Request", "true"),
                (
                    "HX-Current-URL",
                    "http://localhost/customers/10?tab=records",
                ),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            "ids=10&reason=Deceased",
        );
        assert_eq!(
            (r.status, r.header("hx-redirect")),
            (
                200,
                Some("/login?next=%2Fcustomers%2F10%3Ftab%3Drecords&expired=1")
            ),
            "{}",
            r.body
        );
        let login = s.call(
            "GET",
            "/login?next=%2Fcustomers%2F10%3Ftab%3Drecords&expired=1",
            &[],
            "",
        );
        assert!(
            login.body.contains("Your session expired"),
            "{}",
            login.body
        );
        assert!(
            login
                .body
                .contains("name=\"next\" value=\"&#x2f;customers&#x2f;10?tab=records\""),
            "{}",
            login.body
        );
        assert!(!login.body.contains("offboard users password"));
        // Elsewhere than this site is never where a login leads.
        let r = s.call(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "user=ada&password=admin-pass&next=%2F%2Fevil.example%2F",
        );
        assert_eq!((r.status, r.header("location")), (303, Some("/customers")));
        let r = s.call(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "user=ada&password=admin-pass&next=%2Fcustomers%2F10",
        );
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/customers/10"))
        );
        let r = s.call(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "user=ada&password=wrong",
        );
        assert_eq!(r.status, 401);
        assert!(r.body.contains("wrong password"));
        // A guesser is stopped after five failures, even with the right password then.
        for _ in 0..5 {
            let r = s.api(
                "POST",
                "/api/v1/login",
                "",
                json!({ "user": "vic", "password": "guess" }),
            );
            assert_eq!(r.status, 401);
        }
        let r = s.api(
            "POST",
            "/api/v1/login",
            "",
            json!({ "user": "vic", "password": "viewer-pass" }),
        );
        assert_eq!(
            (r.status, r.json()["error"]["code"].as_str()),
            (429, Some("too_many_attempts"))
        );
        let r = s.call(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "user=ada&password=admin-pass",
        );
        assert_eq!(r.status, 303);
        let cookie = r
            .header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let list = s.page("GET", "/customers", &cookie, "");
        assert_eq!(list.status, 200);
        assert!(list.body.contains("Ed Clean") && !list.body.contains("Fay Gone"));
        let bin = s.page("GET", "/customers?view=deleted", &cookie, "");
        assert!(bin.body.contains("Fay Gone"));
        // A search that finds no one in this view says where it would.
        let none = s.page("GET", "/customers?search=Fay", &cookie, "");
        assert!(
            none.body.contains("No current customers match."),
            "{}",
            none.body
        );
        assert!(
            none.body
                .contains("view=deleted&amp;search=Fay\">1 in the recycle bin</a>"),
            "{}",
            none.body
        );
        // Why can't I deactivate this? The customer's page says, at a glance.
        let page = s.page("GET", "/customers/11", &cookie, "");
        assert!(
            page.body.contains("Deactivating it would need"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("1 open invoice (€25.00)"),
            "{}",
            page.body
        );
        // Blocked: the dialog shows the blocking items and their amounts, and only Cancel.
        let dialog = s.page("GET", "/deactivate?ids=11", &cookie, "");
        assert!(dialog.body.contains("1 open invoice "), "{}", dialog.body);
        assert!(dialog.body.contains("25.00"));
        assert!(!dialog.body.contains("<button>OK</button>"));
        // Free to go: a reason from the person list and a choice for the open activity.
        let dialog = s.page("GET", "/deactivate?ids=14", &cookie, "");
        assert!(dialog.body.contains("<option>Moved away</option>"));
        assert!(
            !dialog.body.contains("Company dissolved"),
            "company reasons are not offered"
        );
        assert!(dialog.body.contains("1 open activity"));
        assert!(dialog
            .body
            .contains("<button>Deactivate 1 customer</button>"));
        // The form carries the plan of each choice for the open activity; the apply is
        // bound to the one chosen.
        let hidden = |name: &str| {
            dialog
                .body
                .split(&format!("name=\"{name}\" value=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no {name} in the dialog: {}", dialog.body))
                .to_string()
        };
        let (complete, remove) = (hidden("plan.complete"), hidden("plan.remove"));
        assert_ne!(complete, remove);
        // The plan of the other choice is not this one's: nothing changes.
        let wrong = s.page(
            "POST",
            "/deactivate",
            &cookie,
            &format!("ids=14&reason=Moved+away&open_activities=remove&plan.remove={complete}"),
        );
        assert_eq!(wrong.status, 409, "{}", wrong.body);
        let done = s.page(
            "POST",
            "/deactivate",
            &cookie,
            &format!("ids=14&reason=Moved+away&open_activities=remove&plan.complete={complete}&plan.remove={remove}"),
        );
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("1 deactivated"), "{}", done.body);
        let api = s
            .api("GET", "/api/v1/customers/14", &s.admin, Value::Null)
            .json();
        assert_eq!(api["status"], "deactivated");
        assert_eq!(
            api["records"]["activity"], 0,
            "the open activity was removed"
        );
        let audit = s.page("GET", "/audit", &cookie, "");
        assert!(audit.body.contains("hash chain is intact"));
        let out = s.page("POST", "/logout", &cookie, "");
        assert_eq!(out.status, 303);
        let r = s.page("GET", "/customers", &cookie, "");
        assert_eq!(r.status, 303, "the session ended");
    }
);

/// Logs in as the admin; returns the session cookie.
fn log_in(s: &Server) -> String {
    let r = s.call(
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "user=ada&password=admin-pass",
    );
    assert_eq!(r.status, 303, "{}", r.body);
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

conformance!(
    the_recycle_bin_cleanup_shows_its_plan_and_asks_first,
    |db: TestDb| {
        let s = start(
            &db,
            "services",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,status\n1,1,person,Ann Lee,active\n2,2,person,Bo Ek,active\n",
                ),
                ("note.csv", "id,customer_id,body\n1,1,hello\n2,1,again\n"),
            ],
        );
        let cookie = log_in(&s);
        let page = s.page("GET", "/customers/1", &cookie, "");
        assert!(page.body.contains("hello") && page.body.contains("/records/note/delete"));
        let gone = s.page("POST", "/records/note/delete", &cookie, "ids=2&customer=1");
        assert!(gone.body.contains("1 note deleted"), "{}", gone.body);
        // A merge is previewed first (nothing changes), then applied from the preview.
        let preview = s.page("GET", "/merge?duplicate=2&into=1", &cookie, "");
        assert!(
            preview.body.contains("1 would be merged"),
            "{}",
            preview.body
        );
        assert!(preview.body.contains("name=\"duplicate\" value=\"2\""));
        assert_eq!(
            s.api("GET", "/api/v1/customers/2", &s.admin, Value::Null)
                .status,
            200,
            "the preview changed nothing"
        );
        let confirm = s.page("GET", "/delete?ids=1,2", &cookie, "");
        assert!(confirm.body.contains("recycle bin"), "{}", confirm.body);
        let deleted = s.page("POST", "/bulk", &cookie, "id=1&id=2&action=delete");
        assert_eq!(deleted.header("location"), Some("/delete?ids=1,2"));
        let done = s.page("POST", "/delete", &cookie, "ids=1,2");
        assert!(done.body.contains("2 deleted"), "{}", done.body);
        let bin = s.page("GET", "/customers?view=deleted", &cookie, "");
        assert!(bin.body.contains("Ann Lee") && bin.body.contains("/purge"));
        // A deleted customer stays editable (to correct reports); only what changed is written.
        let edit = s.page(
            "POST",
            "/customers/1/edit",
            &cookie,
            "name=Ann+Lee&number=1&email=ann%40example.com&phone=",
        );
        assert_eq!(
            edit.header("location"),
            Some("/customers/1"),
            "{}",
            edit.body
        );
        let ann = s
            .api("GET", "/api/v1/customers/1", &s.admin, Value::Null)
            .json();
        assert_eq!(
            (ann["email"].as_str(), ann["status"].as_str()),
            (Some("ann@example.com"), Some("deleted"))
        );
        let log = s
            .api(
                "GET",
                "/api/v1/audit?customer=1&limit=1",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(
            log[0]["details"]["changed"],
            json!({ "email": [null, "ann@example.com"] })
        );
        let back = s.page("POST", "/bulk", &cookie, "id=2&action=undelete");
        assert!(back.body.contains("1 undeleted"), "{}", back.body);
        let preview = s.page("GET", "/purge", &cookie, "");
        assert!(preview.body.contains("cannot be undone"));
        assert!(
            preview.body.contains("1 would be purged"),
            "the preview counts: {}",
            preview.body
        );
        let refused = s.page("POST", "/purge", &cookie, "");
        assert_eq!(refused.status, 400);
        assert_eq!(
            s.api("GET", "/api/v1/stats", &s.admin, Value::Null).json()["customers"]["deleted"],
            1,
            "nothing erased without the confirmation"
        );
        let erased = s.page("POST", "/purge", &cookie, "confirm=yes");
        assert!(erased.body.contains("1 purged"), "{}", erased.body);
        let stats = s.api("GET", "/api/v1/stats", &s.admin, Value::Null).json();
        assert_eq!(stats["customers"]["deleted"], 0);
        assert_eq!(stats["customers"]["active"], 1);
    }
);

conformance!(the_ui_offers_only_what_the_user_may_do, |db: TestDb| {
    let s = start(&db, "legal", &legal());
    let viewer = s.session("vic", "viewer-pass");
    let list = s.page("GET", "/customers", &viewer, "");
    assert!(list.body.contains("Ed Clean"), "a viewer sees customers");
    assert!(!list.body.contains("value=\"deactivate\""), "{}", list.body);
    assert!(!list.body.contains("Add a customer"));
    let page = s.page("GET", "/customers/14", &viewer, "");
    assert!(!page.body.contains("Deactivate…") && !page.body.contains(">Edit</h2>"));
    assert!(!page.body.contains("/records/activity/delete"));
    let admin = log_in(&s);
    let page = s.page("GET", "/customers/14", &admin, "");
    assert!(page.body.contains("Deactivate…") && page.body.contains(">Edit</h2>"));
    // And the engine refuses what is not offered, whatever is posted.
    let r = s.page("POST", "/deactivate", &viewer, "ids=14&reason=Moved+away");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("may not deactivate"), "{}", r.body);
});

conformance!(behind_https_the_session_cookie_is_secure, |db: TestDb| {
    for secure in [false, true] {
        let sub = TestDb::new(db.backend).unwrap();
        let s = start_with(&sub, "services", &[], |s| s.secure_cookies(secure));
        let r = s.api(
            "POST",
            "/api/v1/login",
            "",
            json!({ "user": "ada", "password": "admin-pass" }),
        );
        let cookie = r.header("set-cookie").unwrap();
        assert!(cookie.contains("HttpOnly; SameSite=Strict"), "{cookie}");
        assert_eq!(cookie.contains("; Secure"), secure, "{cookie}");
    }
});

conformance!(
    a_deleted_customers_page_says_whether_the_cleanup_would_erase_it,
    |db: TestDb| {
        let s = start(
            &db,
            "membership",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,company_id,status\n1,M1,person,Ola Open,,deleted\n2,M2,person,Cleo Clean,,deleted\n3,M3,company,Linked Ltd,,deleted\n4,M4,person,Ann Active,3,active\n",
                ),
                ("order.csv", "id,customer_id,stage,total\n1,1,OPEN,1250\n"),
            ],
        );
        let cookie = log_in(&s);
        let open = s.page("GET", "/customers/1", &cookie, "");
        assert!(
            open.body.contains("would not erase it") && open.body.contains("1 open order"),
            "{}",
            open.body
        );
        let clean = s.page("GET", "/customers/2", &cookie, "");
        assert!(
            clean.body.contains("The next cleanup would erase it"),
            "{}",
            clean.body
        );
        let linked = s.page("GET", "/customers/3", &cookie, "");
        assert!(
            linked
                .body
                .contains("still linked from surviving customers 4"),
            "{}",
            linked.body
        );
        let active = s.page("GET", "/customers/4", &cookie, "");
        assert!(
            !active.body.contains("cleanup"),
            "only deleted customers: {}",
            active.body
        );
    }
);

conformance!(
    a_deactivation_of_several_kinds_takes_a_reason_per_kind,
    |db: TestDb| {
        let s = start(
            &db,
            "legal",
            &[(
                "customers.csv",
                "id,number,kind,name,status\n14,K14,person,Ed Clean,active\n16,K16,company,Acme Corp,active\n",
            )],
        );
        // One reason for both kinds cannot fit: "Company dissolved" is no person's reason.
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [14, 16], "reason": "Company dissolved" }),
        );
        assert_eq!(r.json()["deactivated"], 1, "{}", r.body);
        // A kind that does not exist is named.
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [14], "reasons": { "firm": "Company dissolved" } }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`firm` is not a customer kind"));
        // Per kind, both go, each with its own reason, in the customer and in the audit log.
        let r = s.api(
            "POST",
            "/api/v1/reactivate",
            &s.admin,
            json!({ "customers": [16] }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [14, 16], "reasons": { "company": "Company dissolved", "person": "Moved away" } }),
        );
        assert_eq!(r.json()["deactivated"], 2, "{}", r.body);
        let get = |id: i64| {
            s.api(
                "GET",
                &format!("/api/v1/customers/{id}"),
                &s.admin,
                Value::Null,
            )
            .json()
        };
        assert_eq!(get(16)["deactivation_reason"], "Company dissolved");
        assert_eq!(get(14)["deactivation_reason"], "Moved away");
        let audit = s
            .api("GET", "/api/v1/audit?customer=14", &s.admin, Value::Null)
            .json();
        assert!(audit.to_string().contains("Moved away"), "{audit}");
    }
);

conformance!(
    the_api_exports_one_customer_on_request_and_erases_on_request,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        // Access: fields, records, audit; a viewer may not.
        let doc = s.api("GET", "/api/v1/customers/11/export", &s.admin, Value::Null);
        assert_eq!(doc.status, 200, "{}", doc.body);
        assert!(doc
            .header("content-disposition")
            .unwrap()
            .contains("customer-K11.json"));
        let doc = doc.json();
        assert_eq!(doc["customer"]["name"], "Bo Owes");
        assert_eq!(doc["records"]["invoice"][0]["balance"], 2500, "{doc}");
        assert_eq!(
            s.api("GET", "/api/v1/customers/11/export", &s.viewer, Value::Null)
                .status,
            403
        );
        assert_eq!(
            s.api("GET", "/api/v1/customers/999/export", &s.admin, Value::Null)
                .status,
            404
        );
        // Erasure: Bo's invoice must stay, so Bo is not erased, and the plan says why.
        let r = s.api(
            "POST",
            "/api/v1/erase",
            &s.admin,
            json!({ "customers": [11, 14], "dry_run": true }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let plan = r.json();
        assert_eq!(plan["candidates"], 2, "{plan}");
        let bo = plan["customers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == 11)
            .unwrap()
            .clone();
        assert_eq!(bo["outcome"], "blocked", "{plan}");
        assert!(bo["blockers"].to_string().contains("invoice"), "{bo}");
        // Typos and unknown customers are refused in words.
        let r = s.api(
            "POST",
            "/api/v1/erase",
            &s.admin,
            json!({ "customer": [11] }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/erase",
            &s.admin,
            json!({ "customers": [999] }),
        );
        assert_eq!(r.status, 404, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/erase",
            &s.viewer,
            json!({ "customers": [14] }),
        );
        assert_eq!(r.status, 403, "{}", r.body);
    }
);

conformance!(
    an_erased_persons_email_is_refused_by_the_api_and_the_ui,
    |db: TestDb| {
        let s = start(
            &db,
            "services",
            &[(
                "customers.csv",
                "id,number,kind,name,email,status\n1,1,person,Ann Lee,ann@example.com,active\n2,2,person,Bo Ek,bo@example.com,active\n",
            )],
        );
        let r = s.api(
            "POST",
            "/api/v1/erase",
            &s.admin,
            json!({ "customers": [1] }),
        );
        assert_eq!(r.json()["purged"], 1, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/customers",
            &s.admin,
            json!({ "kind": "person", "name": "Ann Again", "email": "Ann@Example.com" }),
        );
        assert!(
            r.status == 409 || r.status == 422,
            "{} {}",
            r.status,
            r.body
        );
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("may not come back"),
            "{}",
            r.body
        );
        let r = s.api(
            "PATCH",
            "/api/v1/customers/2",
            &s.admin,
            json!({ "email": "ann@example.com" }),
        );
        assert!(r.status >= 400, "{}", r.body);
        // The UI's form says it next to the email, with what was typed kept.
        let cookie = log_in(&s);
        let page = s.page(
            "POST",
            "/customers/new",
            &cookie,
            "kind=person&name=Ann+Again&email=ann%40example.com",
        );
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.body.contains("id=\"new-email-error\""),
            "{}",
            page.body
        );
        assert!(page.body.contains("value=\"Ann Again\""), "{}", page.body);
        // Nobody was added.
        assert_eq!(
            s.api("GET", "/api/v1/customers?view=all", &s.admin, Value::Null)
                .json()["total"],
            1
        );
    }
);

conformance!(
    the_api_forgets_a_customer_and_refuses_typos_and_viewers,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let r = s.api(
            "POST",
            "/api/v1/forget",
            &s.admin,
            json!({ "customers": 11 }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/forget",
            &s.viewer,
            json!({ "customer": 11 }),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/forget",
            &s.admin,
            json!({ "customer": 999 }),
        );
        assert_eq!(r.status, 404, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/forget",
            &s.admin,
            json!({ "customer": 11 }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let bo = s
            .api("GET", "/api/v1/customers/11", &s.admin, Value::Null)
            .json();
        assert_eq!(bo["name"], "Forgotten customer");
        assert_eq!(
            bo["records"]["invoice"], 1,
            "the invoice that must stay stays: {bo}"
        );
    }
);
