//! The web UI in a real browser: headless Chromium driven through ChromeDriver (the W3C
//! WebDriver protocol, spoken here over plain HTTP). Without ChromeDriver the test is skipped
//! with a note; under CI (`CI=true`) its absence is an error (`.ci/run` installs Debian's
//! `chromium` and `chromium-driver`).

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use offboard_testkit::{conformance, TestDb};

use crate::{legal, request, start};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A ChromeDriver process and one browser session; both end when dropped.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

fn tool(name: &str) -> Option<String> {
    let found = ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is missing: under CI the browser tests must run (apt-get install chromium chromium-driver)");
    }
    found
}

impl Browser {
    fn start() -> Option<Browser> {
        let (Some(driver), Some(chromium)) = (tool("chromedriver"), tool("chromium")) else {
            eprintln!("note: no chromium/chromedriver here; the browser test is skipped");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        } } });
        let mut b = Browser {
            driver: child,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let reply = b.send("POST", "/session", caps);
        b.session = reply["sessionId"].as_str().unwrap().to_string();
        Some(b)
    }

    fn send(&self, method: &str, path: &str, body: Value) -> Value {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let reply = request(
            self.addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            &text,
        );
        let v = reply.json();
        assert!(
            reply.status < 400,
            "WebDriver {method} {path}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    fn open(&self, url: &str) {
        self.send("POST", &self.at("/url"), json!({ "url": url }));
    }

    fn find(&self, css: &str) -> String {
        let e = self.send(
            "POST",
            &self.at("/element"),
            json!({ "using": "css selector", "value": css }),
        );
        e[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {e}"))
            .to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.send(
            "POST",
            &self.at(&format!("/element/{e}/value")),
            json!({ "text": text }),
        );
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.send("POST", &self.at(&format!("/element/{e}/click")), json!({}));
    }

    fn page(&self) -> String {
        self.send("GET", &self.at("/source"), Value::Null)
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The page once it shows `text` (a click that navigates returns before the new page
    /// may be there); panics with the page after a while.
    fn page_with(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let page = self.page();
            if page.contains(text) {
                return page;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no {text:?} on the page:\n{page}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        self.send("GET", &self.at("/url"), Value::Null)
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = request(
                self.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                "",
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

conformance!(
    in_a_browser_a_clerk_logs_in_ticks_customers_and_deactivates_them,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.open(&format!("{base}/customers"));
        b.page_with("<title>Log in");
        b.type_into("input[name=user]", "ada");
        b.type_into("input[name=password]", "admin-pass");
        b.click("form[action='/login'] button");
        b.page_with("Ed Clean");
        assert!(b.url().ends_with("/customers"), "{}", b.url());
        // Tick both persons, one of whom owes an invoice, and deactivate them.
        b.click("input[name=id][value='11']");
        b.click("input[name=id][value='14']");
        b.click("button[value=deactivate]");
        let dialog = b.page_with("<title>Deactivate");
        assert!(dialog.contains("1 open invoice (25.00)"), "{dialog}");
        assert!(
            dialog.contains("1 customer(s) can be deactivated"),
            "{dialog}"
        );
        b.click("input[name=open_activities][value=remove]");
        b.click("form[action='/deactivate'] button");
        let result = b.page_with("<title>Deactivated");
        assert!(result.contains("1 deactivated"), "{result}");
        assert!(
            result.contains("Bo Owes"),
            "the blocked one is explained: {result}"
        );
        let ed = s
            .api("GET", "/api/v1/customers/14", &s.admin, Value::Null)
            .json();
        assert_eq!(ed["status"], "deactivated");
        assert_eq!(ed["deactivation_reason"], "Relationship ended");
        assert_eq!(
            s.api("GET", "/api/v1/customers/11", &s.admin, Value::Null)
                .json()["status"],
            "active"
        );
    }
);
