//! Background jobs from outside the server: a job whose server is killed (`kill -9`) is
//! `interrupted` after the restart with the database unchanged, and `offboard jobs
//! list|show|cancel` read and cancel them.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

/// The membership demo (400 customers) imported, and an admin token.
fn demo(cli: &Cli) -> String {
    cli.run(&["init", "--preset", "membership"]).ok();
    cli.run(&["demo", "--customers", "400", "--seed", "3", "--out", "data"])
        .ok();
    cli.run(&["import", "data"]).ok();
    cli.run(&["users", "add", "ada", "--role", "admin"]).ok();
    let out = cli.run(&["users", "token", "ada"]).ok().stdout;
    out.split_whitespace()
        .find(|w| w.starts_with("obt_"))
        .unwrap_or_else(|| panic!("no token in {out}"))
        .to_string()
}

fn serve(cli: &Cli, port: u16, delay_ms: u64) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_offboard"))
        .current_dir(&cli.dir)
        .env("OFFBOARD_DB", &cli.db)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--job-step-delay-ms",
            &delay_ms.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(30));
    }
    child
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One API call; the status and the JSON answer.
fn api(port: u16, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn count_deleted(cli: &Cli) -> i64 {
    cli.run(&["stats", "--json"]).ok().json()["customers"]["deleted"]
        .as_i64()
        .unwrap()
}

conformance!(
    a_job_killed_with_its_server_is_interrupted_and_changed_nothing,
    |db: TestDb| {
        let cli = Cli::new(&db);
        let token = demo(&cli);
        let before = count_deleted(&cli);
        let audit_before = cli
            .run(&["audit", "--json", "--limit", "100000"])
            .ok()
            .json();
        let port = free_port();
        let mut server = serve(&cli, port, 400);
        let (status, job) = api(
            port,
            "POST",
            "/api/v1/purge",
            &token,
            r#"{"background": true}"#,
        );
        assert_eq!(status, 202, "{job}");
        let id = job["id"].as_i64().unwrap();
        // Killed while the job is past its blockers, inside its transaction.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, j) = api(port, "GET", &format!("/api/v1/jobs/{id}"), &token, "");
            if matches!(
                j["phase"].as_str(),
                Some("orphan_fixpoint" | "effects" | "audit")
            ) {
                break;
            }
            assert!(
                matches!(j["status"].as_str(), Some("queued" | "running")),
                "{j}"
            );
            assert!(Instant::now() < deadline, "the job did not get going: {j}");
            std::thread::sleep(Duration::from_millis(20));
        }
        server.kill().unwrap();
        server.wait().unwrap();
        // Until a server starts again, the book still says running.
        let shown = cli
            .run(&["jobs", "show", &id.to_string(), "--json"])
            .ok()
            .json();
        assert_eq!(shown["status"], "running", "{shown}");
        let port = free_port();
        let mut server = serve(&cli, port, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        let j = loop {
            let (_, j) = api(port, "GET", &format!("/api/v1/jobs/{id}"), &token, "");
            if j["status"] != "running" {
                break j;
            }
            assert!(Instant::now() < deadline, "never recovered: {j}");
            std::thread::sleep(Duration::from_millis(30));
        };
        server.kill().unwrap();
        server.wait().unwrap();
        assert_eq!(j["status"], "interrupted", "{j}");
        assert!(
            j["error"]["message"]
                .as_str()
                .unwrap()
                .contains("nothing of it was applied"),
            "{j}"
        );
        // And that is true: nothing was erased or audited.
        assert_eq!(count_deleted(&cli), before);
        let audit_after = cli
            .run(&["audit", "--json", "--limit", "100000"])
            .ok()
            .json();
        assert_eq!(audit_after, audit_before);
        cli.run(&["audit", "verify"]).ok();
        // The CLI lists it.
        let list = cli
            .run(&["jobs", "list", "--status", "interrupted"])
            .ok()
            .stdout;
        assert!(
            list.contains("purge") && list.contains("interrupted"),
            "{list}"
        );
    }
);

conformance!(the_cli_lists_shows_and_cancels_jobs, |db: TestDb| {
    let cli = Cli::new(&db);
    let token = demo(&cli);
    cli.run(&["users", "add", "vic", "--role", "viewer"]).ok();
    let port = free_port();
    let mut server = serve(&cli, port, 300);
    let (_, first) = api(
        port,
        "POST",
        "/api/v1/purge",
        &token,
        r#"{"background": true}"#,
    );
    let (_, second) = api(
        port,
        "POST",
        "/api/v1/purge",
        &token,
        r#"{"background": true, "dry_run": true}"#,
    );
    let (first, second) = (first["id"].to_string(), second["id"].to_string());
    let listed = cli.run(&["jobs", "list"]).ok().stdout;
    assert!(listed.contains("queued"), "{listed}");
    // A viewer may look but not cancel.
    cli.run(&["jobs", "show", &second, "--as", "vic"]).ok();
    let r = cli.run(&["jobs", "cancel", &second, "--as", "vic"]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    // Queued: cancelled at once.
    let r = cli.run(&["jobs", "cancel", &second]).ok();
    assert!(r.stdout.contains("cancelled"), "{}", r.stdout);
    // Running: stops at its next step.
    let r = cli.run(&["jobs", "cancel", &first]).ok();
    assert!(
        r.stdout.contains("next step") || r.stdout.contains("cancelled"),
        "{}",
        r.stdout
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let j = cli.run(&["jobs", "show", &first, "--json"]).ok().json();
        if j["status"] == "cancelled" {
            break;
        }
        assert!(Instant::now() < deadline, "not cancelled: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let shown = cli.run(&["jobs", "show", &first]).ok().stdout;
    assert!(
        shown.contains("cancelled") && shown.contains("nothing was changed"),
        "{shown}"
    );
    let r = cli.run(&["jobs", "cancel", &first]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cancelled already"), "{}", r.stderr);
    let r = cli.run(&["jobs", "list", "--status", "nope"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = cli.run(&["jobs", "show", "999"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no job 999"), "{}", r.stderr);
});

conformance!(
    sigterm_lets_the_running_job_finish_before_the_server_exits,
    |db: TestDb| {
        let cli = Cli::new(&db);
        let token = demo(&cli);
        let port = free_port();
        let mut server = serve(&cli, port, 200);
        let (status, job) = api(
            port,
            "POST",
            "/api/v1/purge",
            &token,
            r#"{"background": true}"#,
        );
        assert_eq!(status, 202, "{job}");
        let id = job["id"].as_i64().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while api(port, "GET", &format!("/api/v1/jobs/{id}"), &token, "").1["status"] != "running" {
            assert!(Instant::now() < deadline, "the job did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed = Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        assert_eq!(server.wait().unwrap().code(), Some(0));
        // The job ran to its end (it committed) before the server exited.
        let shown = cli
            .run(&["jobs", "show", &id.to_string(), "--json"])
            .ok()
            .json();
        assert_eq!(shown["status"], "succeeded", "{shown}");
        assert!(shown["plan"]["purged"].as_i64().unwrap() > 0, "{shown}");
    }
);

conformance!(
    a_second_server_starts_and_reads_while_a_job_holds_the_database,
    |db: TestDb| {
        let cli = Cli::new(&db);
        let token = demo(&cli);
        let port = free_port();
        let mut first = serve(&cli, port, 3000);
        let (status, job) = api(
            port,
            "POST",
            "/api/v1/purge",
            &token,
            r#"{"background": true}"#,
        );
        assert_eq!(status, 202, "{job}");
        let id = job["id"].as_i64().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, j) = api(port, "GET", &format!("/api/v1/jobs/{id}"), &token, "");
            if j["status"] == "running" && j["phase"].as_str().is_some_and(|p| p != "candidates") {
                break;
            }
            assert!(Instant::now() < deadline, "the job did not get going: {j}");
            std::thread::sleep(Duration::from_millis(20));
        }
        // A second server on the same database starts (it writes nothing to start) and reads.
        let second_port = free_port();
        let mut second = serve(&cli, second_port, 0);
        let (status, list) = api(second_port, "GET", "/api/v1/customers?limit=2", &token, "");
        assert_eq!(status, 200, "{list}");
        // It neither runs jobs beside the first nor takes the running one for a dead one.
        std::thread::sleep(Duration::from_millis(1500));
        let (_, j) = api(
            second_port,
            "GET",
            &format!("/api/v1/jobs/{id}"),
            &token,
            "",
        );
        assert_eq!(j["status"], "running", "{j}");
        if cli.db.starts_with("sqlite") {
            // A write waits for the job's lock, then says who holds the database: through
            // the second server (503, the job named) and the CLI alike.
            let t = token.clone();
            let through_api = std::thread::spawn(move || {
                api(
                    second_port,
                    "POST",
                    "/api/v1/customers",
                    &t,
                    r#"{"kind": "person", "name": "Late Comer"}"#,
                )
            });
            let r = cli.run(&[
                "customers",
                "add",
                "--kind",
                "person",
                "--name",
                "Late Comer",
            ]);
            let (status, answer) = through_api.join().unwrap();
            assert_eq!(status, 503, "{answer}");
            assert_eq!(answer["error"]["details"]["jobs"][0], id, "{answer}");
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("reading goes on meanwhile"),
                "{answer}"
            );
            assert_eq!(r.code, 1, "{}", r.stdout);
            assert!(
                r.stderr.contains(&format!(
                    "held for writing by a server's job {id} (purge by ada"
                )),
                "{}",
                r.stderr
            );
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, j) = api(port, "GET", &format!("/api/v1/jobs/{id}"), &token, "");
            if j["status"] != "running" && j["status"] != "queued" {
                assert_eq!(j["status"], "succeeded", "{j}");
                break;
            }
            assert!(Instant::now() < deadline, "the job did not finish: {j}");
            std::thread::sleep(Duration::from_millis(100));
        }
        first.kill().unwrap();
        second.kill().unwrap();
        let _ = first.wait();
        let _ = second.wait();
    }
);
