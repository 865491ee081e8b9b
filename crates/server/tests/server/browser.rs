//! The web UI in a real browser: headless Chromium driven through ChromeDriver (the W3C
//! WebDriver protocol, spoken here over plain HTTP). Without ChromeDriver the test is skipped
//! with a note; under CI (`CI=true`) its absence is an error (`.ci/run` installs Debian's
//! `chromium` and `chromium-driver`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use offboard_testkit::{conformance, TestDb};

use crate::{legal, start};

/// axe-core, from its npm package, loaded into pages by [`Browser::axe`].
const AXE: &str = include_str!("vendor/axe.min.js");

/// A ChromeDriver process and one headless Chromium session through fantoccini, behind a
/// blocking face so the tests read as steps. Both end when dropped; a test that fails
/// leaves a screenshot of the page it was on (the path is printed).
pub(crate) struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
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
    /// A browser at 1366 x 900, or None (with a note) where Chromium is not installed.
    pub(crate) fn start() -> Option<Browser> {
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
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=1366,900",
                         format!("--user-data-dir={}", profile.path().display())],
                "prefs": { "download.default_directory": profile.path().join("downloads").display().to_string(),
                           "download.prompt_for_download": false }
            }),
        );
        // ChromeDriver may take connections a moment before it answers them.
        let mut tries = 0;
        let client = loop {
            tries += 1;
            match runtime.block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}")),
            ) {
                Ok(c) => break c,
                Err(e) if tries < 20 => {
                    eprintln!("chromedriver not ready ({e}); again");
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => panic!("no browser session: {e}"),
            }
        };
        Some(Browser {
            runtime,
            client: Some(client),
            driver: child,
            _profile: profile,
        })
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Where the browser saves downloads.
    pub(crate) fn downloads(&self) -> std::path::PathBuf {
        self._profile.path().join("downloads")
    }

    pub(crate) fn open(&self, url: &str) {
        self.runtime.block_on(self.c().goto(url)).unwrap();
    }

    fn element(&self, css: &str) -> fantoccini::elements::Element {
        // A click that navigates returns before the next page is there: wait for the element.
        let started = Instant::now();
        loop {
            match self.runtime.block_on(self.c().find(Locator::Css(css))) {
                Ok(e) => return e,
                Err(e) => assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "no element {css} ({e}) on the page:\n{}",
                    self.page()
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.runtime.block_on(e.send_keys(text)).unwrap();
    }

    pub(crate) fn click(&self, css: &str) {
        let e = self.element(css);
        self.runtime.block_on(e.click()).unwrap();
    }

    /// Whether the page has an element matching `css` now.
    pub(crate) fn has(&self, css: &str) -> bool {
        self.runtime
            .block_on(self.c().find_all(Locator::Css(css)))
            .map(|v| !v.is_empty())
            .unwrap_or(false)
    }

    /// The visible text of the first element matching `css`.
    pub(crate) fn text(&self, css: &str) -> String {
        // The page may change under us (a navigation, a swap): find it again then.
        let started = Instant::now();
        loop {
            let e = self.element(css);
            match self.runtime.block_on(e.text()) {
                Ok(t) => return t,
                Err(err) => assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "the text of {css}: {err}"
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the address contains `part`.
    pub(crate) fn url_with(&self, part: &str) {
        let started = Instant::now();
        while !self.url().contains(part) {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "never at {part}: {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn page(&self) -> String {
        self.runtime.block_on(self.c().source()).unwrap()
    }

    /// The page once it shows `text`; panics with the page after a while.
    pub(crate) fn page_with(&self, text: &str) -> String {
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

    pub(crate) fn url(&self) -> String {
        self.runtime
            .block_on(self.c().current_url())
            .unwrap()
            .to_string()
    }

    /// Runs `script` in the page and returns what it returns.
    pub(crate) fn run(&self, script: &str) -> Value {
        self.runtime
            .block_on(self.c().execute(script, vec![]))
            .unwrap()
    }

    /// Presses Tab `n` times; the focused element's outer HTML.
    pub(crate) fn tab(&self, n: usize) -> String {
        let keys: String = std::iter::repeat_n('\u{E004}', n).collect();
        self.keys(&keys)
    }

    /// Presses Enter once; the focused element's outer HTML afterwards.
    pub(crate) fn enter(&self) -> String {
        self.keys("\u{E007}")
    }

    /// Presses Shift+Tab once; the focused element's outer HTML.
    pub(crate) fn shift_tab(&self) -> String {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let actions = KeyActions::new("keys".to_string())
            .then(KeyAction::Down { value: '\u{E008}' })
            .then(KeyAction::Down { value: '\u{E004}' })
            .then(KeyAction::Up { value: '\u{E004}' })
            .then(KeyAction::Up { value: '\u{E008}' });
        self.perform(actions)
    }

    fn keys(&self, keys: &str) -> String {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keys".to_string());
        for k in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: k })
                .then(KeyAction::Up { value: k });
        }
        self.perform(actions)
    }

    fn perform(&self, actions: fantoccini::actions::KeyActions) -> String {
        self.runtime
            .block_on(self.c().perform_actions(actions))
            .unwrap();
        self.run("return document.activeElement.outerHTML")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub(crate) fn log_in(&self, base: &str, user: &str, password: &str) {
        self.open(&format!("{base}/login"));
        self.type_into("input[name=user]", user);
        self.type_into("input[name=password]", password);
        self.click("form[action='/login'] button");
        self.page_with("Log out");
    }

    /// axe-core on the page as it is now: panics listing every serious or critical
    /// accessibility violation (WCAG 2.1 A and AA, and best practices).
    pub(crate) fn axe(&self) {
        self.run(AXE);
        let found = self
            .runtime
            .block_on(self.c().execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                          v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            ))
            .unwrap();
        let list: Vec<String> = serde_json::from_value(found).unwrap();
        assert!(
            list.is_empty(),
            "accessibility violations on {}:\n{}",
            self.url(),
            list.join("\n")
        );
    }

    /// Saves a PNG of the page (for a failing test).
    fn screenshot(&self, path: &std::path::Path) -> Result<(), String> {
        let png = self
            .runtime
            .block_on(self.c().screenshot())
            .map_err(|e| e.to_string())?;
        std::fs::write(path, png).map_err(|e| e.to_string())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let name = std::thread::current()
                .name()
                .unwrap_or("browser")
                .replace("::", "-");
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-failures");
            let path = dir.join(format!("{name}.png"));
            let saved = std::fs::create_dir_all(&dir)
                .map_err(|e| e.to_string())
                .and_then(|_| self.screenshot(&path));
            match saved {
                Ok(()) => eprintln!("the page at the failure: {}", path.display()),
                Err(e) => eprintln!("no screenshot of the failure: {e}"),
            }
        }
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The legal fixture with a company, and `n` more persons named "Member NNN".
fn legal_with(n: usize) -> Vec<(&'static str, String)> {
    let mut customers = String::from(
        "id,number,kind,name,status\n11,K11,person,Bo Owes,active\n14,K14,person,Ed Clean,active\n15,K15,person,Fay Gone,deleted\n16,K16,company,Acme Corp,active\n",
    );
    for i in 0..n {
        customers.push_str(&format!(
            "{},M{:03},person,Member {:03},active\n",
            100 + i,
            i,
            i
        ));
    }
    let mut files: Vec<(&'static str, String)> = legal()
        .into_iter()
        .map(|(f, b)| (f, b.to_string()))
        .collect();
    files[0].1 = customers;
    files
}

fn start_legal(db: &TestDb, n: usize) -> crate::Server {
    let files = legal_with(n);
    let refs: Vec<(&str, &str)> = files.iter().map(|(f, b)| (*f, b.as_str())).collect();
    start(db, "legal", &refs)
}

/// Waits until the dialog over the page is open and shows `text`; its text.
fn dialog_with(b: &Browser, text: &str) -> String {
    let started = Instant::now();
    loop {
        let open = b.run(
            "const d = document.getElementById('modal'); return d && d.open ? d.innerText : null",
        );
        if let Some(t) = open.as_str() {
            if t.contains(text) {
                return t.to_string();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no open dialog with {text:?}; dialog: {open}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Picks the first reason of every reason list in the dialog (none is chosen beforehand).
fn choose_reasons(b: &Browser) {
    b.run(
        "document.querySelectorAll('#modal select[name^=\"reason.\"]').forEach(s => { s.selectedIndex = 1; }); return null",
    );
}

/// Waits until the focused element reads `text` (a dialog focuses its button once its content
/// is in; a close gives the focus back a moment later), failing with where the focus is.
fn focus_settles_on(b: &Browser, text: &str) {
    let started = Instant::now();
    while b.run("return document.activeElement.textContent") != json!(text) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the focus is not on {text:?} but on {}",
            b.run("return document.activeElement.outerHTML")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dialog_closed(b: &Browser) {
    let started = Instant::now();
    while b.run("return document.getElementById('modal').open") == json!(true) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the dialog stays open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

conformance!(
    in_a_browser_a_clerk_deactivates_in_a_dialog_over_the_list_and_the_list_refreshes,
    |db: TestDb| {
        let s = start_legal(&db, 0);
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
        assert!(
            b.run(
                "return getComputedStyle(document.querySelector('form.selection .count')).display"
            ) != json!("none"),
            "the count shows"
        );
        assert_eq!(
            b.run("return document.querySelectorAll('input[name=id]:checked').length"),
            json!(2)
        );
        b.click("button[value=deactivate]");
        let dialog = dialog_with(&b, "can be deactivated");
        assert!(dialog.contains("Deactivate 2 customers"), "{dialog}");
        assert!(dialog.contains("1 open invoice (€25.00)"), "{dialog}");
        assert!(dialog.contains("1 customer can be deactivated"), "{dialog}");
        assert!(
            b.url().ends_with("/customers"),
            "the list stays beneath: {}",
            b.url()
        );
        b.axe();
        b.click("#modal input[name=open_activities][value=remove]");
        // No reason is chosen for the clerk: the form is not sent until one is.
        b.click("#modal form[action='/deactivate'] button");
        std::thread::sleep(Duration::from_millis(300));
        assert!(b.text("#modal").contains("can be deactivated"));
        choose_reasons(&b);
        b.click("#modal form[action='/deactivate'] button");
        let result = dialog_with(&b, "1 deactivated:");
        assert!(
            result.contains("K14 Ed Clean"),
            "who was deactivated, by name: {result}"
        );
        assert!(
            result.contains("Bo Owes"),
            "the blocked one is explained: {result}"
        );
        b.click("#modal [data-close]");
        dialog_closed(&b);
        // The list beneath was read again: Ed Clean's pill says so.
        let started = Instant::now();
        while !b.text("main").contains("Deactivated") {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the list did not refresh: {}",
                b.text("main")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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

conformance!(
    in_a_browser_one_blocked_customer_is_offered_only_cancel,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers/11"));
        b.click("a[href='/deactivate?ids=11']");
        let dialog = dialog_with(&b, "cannot be deactivated");
        assert!(dialog.contains("Deactivate K11 Bo Owes"), "{dialog}");
        assert!(dialog.contains("1 open invoice (€25.00)"), "{dialog}");
        assert!(
            !b.has("#modal form[action='/deactivate']"),
            "no way to go on"
        );
        assert!(b.has("#modal a[data-close]"), "only Cancel");
        b.click("#modal a[data-close]");
        dialog_closed(&b);
        // Focus is back on what opened the dialog.
        let focused = b.run("return document.activeElement.getAttribute('href')");
        assert_eq!(focused, json!("/deactivate?ids=11"));
    }
);

conformance!(
    in_a_browser_an_erasing_delete_is_never_one_enter_away,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers/16"));
        b.click("a[href='/delete?ids=16']");
        let dialog = dialog_with(&b, "cannot be undone");
        assert!(dialog.contains("Delete K16 Acme Corp"), "{dialog}");
        b.axe();
        // Acme can be erased (nothing blocks it). The dialog opens on Cancel: Enter closes it; Enter again (on Delete…, which has the
        // focus back) opens it on Cancel again — never erasing.
        let focused = b.run("return document.activeElement.textContent");
        assert_eq!(focused, json!("Cancel"));
        b.enter();
        dialog_closed(&b);
        b.enter();
        dialog_with(&b, "cannot be undone");
        focus_settles_on(&b, "Cancel");
        b.enter();
        dialog_closed(&b);
        let acme = s.api("GET", "/api/v1/customers/16", &s.admin, Value::Null);
        assert_eq!(acme.json()["status"], "active", "{}", acme.body);
        // Erasing needs the tick: the browser refuses the form without it.
        std::thread::sleep(Duration::from_millis(200));
        b.click("a[href='/delete?ids=16']");
        dialog_with(&b, "cannot be undone");
        b.click("#modal form[action='/delete'] button.danger");
        std::thread::sleep(Duration::from_millis(300));
        let acme = s.api("GET", "/api/v1/customers/16", &s.admin, Value::Null);
        assert_eq!(acme.json()["status"], "active", "{}", acme.body);
        b.click("#modal input[name=confirm]");
        b.click("#modal form[action='/delete'] button.danger");
        dialog_with(&b, "1 deleted");
        let acme = s.api("GET", "/api/v1/customers/16", &s.admin, Value::Null);
        assert_eq!(acme.status, 404, "{}", acme.body);
    }
);

conformance!(
    in_a_browser_a_session_that_ends_under_a_dialog_leads_to_a_full_login_and_back,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers/14"));
        b.click("a[href='/deactivate?ids=14']");
        dialog_with(&b, "Deactivate K14 Ed Clean");
        // Every session of ada ends (as when an admin revokes her) while the dialog is open.
        let (mut store, _) = offboard_store::Database::connect(&db.url)
            .unwrap()
            .with_model(crate::strict::s_model(&db))
            .unwrap();
        store.revoke_tokens("ada").unwrap();
        choose_reasons(&b);
        b.click("#modal form[action='/deactivate'] button:not(.secondary)");
        // A whole page, not a form inside the dialog; it says why.
        b.url_with("/login?next=%2Fcustomers%2F14&expired=1");
        let page = b.page_with("Your session expired");
        assert!(!page.contains("offboard users password"), "{page}");
        assert_eq!(
            b.run("const d = document.getElementById('modal'); return !!(d && d.open)"),
            json!(false)
        );
        b.axe();
        b.type_into("input[name=user]", "ada");
        b.type_into("input[name=password]", "admin-pass");
        b.click("form[action='/login'] button");
        // Back on the customer's page; nothing was done while logged out.
        b.url_with("/customers/14");
        b.page_with("Ed Clean");
        let ed = store.customer(14).unwrap();
        assert_eq!(ed.status.name(), "active");
    }
);

conformance!(
    in_a_browser_a_mixed_selection_gets_a_reason_list_per_kind,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers"));
        b.click("input[name=id][value='14']");
        b.click("input[name=id][value='16']");
        b.click("button[value=deactivate]");
        let dialog = dialog_with(&b, "Reason for the 1 company");
        assert!(dialog.contains("Reason for the 1 person"), "{dialog}");
        // Each kind has its own list: "Company dissolved" only for the company.
        let company = b.text("#modal select[name='reason.company']");
        let person = b.text("#modal select[name='reason.person']");
        assert!(company.contains("Company dissolved"), "{company}");
        assert!(
            !person.contains("Company dissolved") && person.contains("Moved away"),
            "{person}"
        );
        b.run("const c = document.querySelector(\"#modal select[name='reason.company']\"); c.value = 'Company dissolved';
               const p = document.querySelector(\"#modal select[name='reason.person']\"); p.value = 'Moved away'; return 1");
        b.click("#modal input[name=open_activities][value=complete]");
        b.click("#modal form[action='/deactivate'] button");
        dialog_with(&b, "2 deactivated:");
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
    }
);

conformance!(
    in_a_browser_select_all_matching_acts_on_the_whole_search_not_the_page,
    |db: TestDb| {
        let s = start_legal(&db, 40);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers?search=Member&limit=25"));
        b.page_with("Member 000");
        // Ticking the first row does not push the table down (the toolbar keeps its place).
        let top = "return Math.round(document.querySelector('form.selection table').getBoundingClientRect().top)";
        let before = b.run(top);
        b.click("input[name=id][value='100']");
        assert_eq!(b.run(top), before, "the table moved when a row was ticked");
        b.click("input[name=all]");
        assert_eq!(
            b.run("return document.querySelector('form.selection .count .n').dataset.all"),
            json!("All 40")
        );
        // All of them means every box on the page too; one unticked is not all any more.
        let ticked =
            "return document.querySelectorAll('form.selection input[name=id]:checked').length";
        assert_eq!(b.run(ticked), json!(25));
        b.click("input[name=id][value='101']");
        assert_eq!(
            b.run("return document.querySelector('input[name=all]').checked"),
            json!(false)
        );
        assert_eq!(b.run(ticked), json!(24));
        b.click("input[name=all]");
        assert_eq!(b.run(ticked), json!(25));
        b.click("button[value=deactivate]");
        let dialog = dialog_with(&b, "40 customers can be deactivated");
        assert!(dialog.contains("Deactivate 40 customers"), "{dialog}");
        choose_reasons(&b);
        b.click("#modal form[action='/deactivate'] button");
        dialog_with(&b, "40 deactivated:");
        let r = s
            .api(
                "GET",
                "/api/v1/customers?view=deactivated&search=Member&limit=100",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(r["total"], 40, "{r}");
        assert_eq!(
            s.api("GET", "/api/v1/customers/14", &s.admin, Value::Null)
                .json()["status"],
            "active",
            "a customer outside the search is left alone"
        );
    }
);

conformance!(
    in_a_browser_a_deleted_customer_leaves_the_list_and_comes_back_after_undelete,
    |db: TestDb| {
        let s = start(
            &db,
            "services",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,status\n1,1,person,Ann Lee,active\n2,2,person,Bo Ek,active\n",
                ),
                ("note.csv", "id,customer_id,body\n1,1,hello\n"),
            ],
        );
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers"));
        b.page_with("Bo Ek");
        b.click("input[name=id][value='2']");
        b.click("button[value=delete]");
        let preview = dialog_with(&b, "Delete 1 customer");
        assert!(preview.contains("recycle bin"), "{preview}");
        b.click("#modal .decide button");
        let result = dialog_with(&b, "1 deleted:");
        assert!(result.contains("2 Bo Ek"), "{result}");
        b.click("#modal [data-close]");
        dialog_closed(&b);
        let started = Instant::now();
        while b.text("main").contains("Bo Ek") {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "Bo Ek is still listed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        b.open(&format!("{base}/customers?view=deleted"));
        b.page_with("Bo Ek");
        b.axe();
        b.click("input[name=id][value='2']");
        b.click("button[value=undelete]");
        let result = dialog_with(&b, "1 undeleted:");
        assert!(result.contains("Bo Ek"), "{result}");
        b.open(&format!("{base}/customers"));
        b.page_with("Bo Ek");
        assert_eq!(
            s.api("GET", "/api/v1/customers/2", &s.admin, Value::Null)
                .json()["status"],
            "active"
        );
    }
);

conformance!(
    in_a_browser_a_big_cleanup_runs_as_a_job_and_its_progress_bar_reaches_the_report,
    |db: TestDb| {
        let mut customers = String::from("id,number,kind,name,status\n1,1,person,Ann Lee,active\n");
        for i in 0..1_050 {
            customers.push_str(&format!(
                "{},{},person,Gone {i:04},deleted\n",
                10 + i,
                10 + i
            ));
        }
        let s = crate::start_with(
            &db,
            "services",
            &[("customers.csv", customers.as_str())],
            |s| s.job_step_delay(Duration::from_millis(400)),
        );
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers?view=deleted"));
        b.page_with("Gone 0000");
        b.click("a[href='/purge']");
        let preview = dialog_with(&b, "Erase");
        assert!(preview.contains("runs in the background"), "{preview}");
        b.click("#modal input[name=confirm]");
        b.click("#modal .decide button");
        // The progress bar, then the report, in the dialog.
        dialog_with(&b, "This page follows it");
        assert!(b.has("#modal progress"));
        let report = dialog_with(&b, "Done");
        assert!(report.contains("1,050 purged"), "{report}");
        assert_eq!(
            s.api(
                "GET",
                "/api/v1/customers?view=deleted",
                &s.admin,
                Value::Null
            )
            .json()["total"],
            0
        );
    }
);

conformance!(
    in_a_browser_an_edit_error_shows_next_to_the_field_with_what_was_typed,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers/14"));
        b.run("const n = document.getElementById('f-number'); n.value = 'K11'; document.getElementById('f-name').value = 'Ed Typed'; return 1");
        b.click("#edit-form button");
        let error = b.text("#e-number");
        assert!(error.contains("K11"), "{error}");
        assert_eq!(
            b.run("return document.getElementById('f-name').value"),
            json!("Ed Typed")
        );
        assert_eq!(
            b.run("return document.getElementById('f-number').getAttribute('aria-invalid')"),
            json!("true")
        );
        assert!(b.url().ends_with("/customers/14"), "{}", b.url());
        b.axe();
        // Nothing was saved.
        assert_eq!(
            s.api("GET", "/api/v1/customers/14", &s.admin, Value::Null)
                .json()["name"],
            "Ed Clean"
        );
    }
);

conformance!(
    in_a_browser_a_viewer_sees_no_controls_it_cannot_use,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "vic", "viewer-pass");
        b.open(&format!("{base}/customers"));
        b.page_with("Ed Clean");
        assert!(!b.has("input[type=checkbox]"), "no checkboxes for a viewer");
        assert!(
            !b.has("a[href='/audit']"),
            "no Audit link a viewer would be refused"
        );
        assert!(!b.has(".toolbar"), "no bulk toolbar");
        b.axe();
        b.open(&format!("{base}/customers/14"));
        b.page_with("Ed Clean");
        assert!(
            !b.has("a[href^='/deactivate']") && !b.has("a[href^='/delete']"),
            "no actions"
        );
        assert!(!b.has("#edit-form"), "no edit form");
        b.axe();
    }
);

conformance!(
    in_a_browser_the_bulk_toolbar_is_a_few_tab_presses_away,
    |db: TestDb| {
        let s = start_legal(&db, 60);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers"));
        b.page_with("Member 000");
        // Tick the first row: the toolbar is before the rows, a few Shift+Tab presses back.
        b.click("input[name=id][value='11']");
        let mut presses = 0;
        loop {
            presses += 1;
            if b.shift_tab().contains("value=\"deactivate\"") {
                break;
            }
            assert!(
                presses < 10,
                "Deactivate not reached in 10 Shift+Tab presses"
            );
        }
        // From the top of the page: the skip link first, the toolbar within 20 presses.
        b.open(&format!("{base}/customers"));
        b.page_with("Member 000");
        // Ticked by a script, so the focus stays at the top of the page.
        b.run("document.querySelector(\"input[name=id][value='11']\").click(); return 1");
        assert!(b.tab(1).contains("Skip to content"));
        let mut presses = 1;
        loop {
            presses += 1;
            if b.tab(1).contains("value=\"deactivate\"") {
                break;
            }
            assert!(
                presses < 20,
                "Deactivate not reached in 20 Tab presses from the top"
            );
        }
    }
);

/// The CSV file the browser downloaded, once it is complete (not empty, its size settled).
fn downloaded_csv(b: &Browser, what: &str) -> std::path::PathBuf {
    let started = Instant::now();
    let mut last: Option<(std::path::PathBuf, u64)> = None;
    loop {
        let done: Vec<std::path::PathBuf> = std::fs::read_dir(b.downloads())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        if let Some(f) = done.first() {
            let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
            if size > 0 && last.as_ref() == Some(&(f.clone(), size)) {
                return f.clone();
            }
            last = Some((f.clone(), size));
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{what}");
        std::thread::sleep(Duration::from_millis(150));
    }
}

conformance!(
    in_a_browser_the_export_of_a_view_downloads_a_readable_file,
    |db: TestDb| {
        let s = start_legal(&db, 3);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers?search=Member"));
        b.page_with("Member 002");
        b.click("a.button[href*='format=csv']");
        let file = downloaded_csv(&b, "no CSV was downloaded");
        let mut rows = csv::Reader::from_path(&file).unwrap();
        let header = rows.headers().unwrap().clone();
        let at = header
            .iter()
            .position(|h| h == "name")
            .unwrap_or_else(|| panic!("{header:?}"));
        let names: Vec<String> = rows.records().map(|r| r.unwrap()[at].to_string()).collect();
        assert_eq!(names, ["Member 000", "Member 001", "Member 002"]);
        // The toolbar's Export takes the ticked rows only.
        std::fs::remove_file(&file).unwrap();
        b.click("input[name=id][value='101']");
        b.click("button[value=export]");
        let file = downloaded_csv(&b, "no CSV of the selection");
        let mut rows = csv::Reader::from_path(&file).unwrap();
        let names: Vec<String> = rows.records().map(|r| r.unwrap()[at].to_string()).collect();
        assert_eq!(names, ["Member 001"]);
        assert!(!b
            .run("return document.getElementById('modal').open")
            .as_bool()
            .unwrap());
    }
);

conformance!(
    in_a_browser_a_merge_shows_both_customers_side_by_side_and_names_them,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers/14"));
        b.type_into("form[action='/merge'] input[name=into]", "K11");
        b.click("form[action='/merge'] button");
        let preview = dialog_with(&b, "Merge K14 Ed Clean into K11 Bo Owes");
        assert!(
            preview.contains("Goes (the duplicate)") && preview.contains("Stays"),
            "{preview}"
        );
        // The records of each, side by side: Ed's activity, Bo's invoice.
        let rows = b.text("#modal table.compare");
        assert!(rows.contains("Activities 1 0"), "{rows}");
        assert!(rows.contains("Invoices 0 1"), "{rows}");
        b.axe();
        b.click("#modal .decide button");
        let result = dialog_with(&b, "1 merged:");
        assert!(result.contains("K14 Ed Clean"), "{result}");
        let acts = s
            .api(
                "GET",
                "/api/v1/customers/11/records/activity",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(acts.as_array().map(Vec::len), Some(1), "{acts}");
        // A number that is no customer's is said in words.
        b.open(&format!("{base}/customers/16"));
        b.type_into("form[action='/merge'] input[name=into]", "K999");
        b.click("form[action='/merge'] button");
        let said = dialog_with(&b, "no customer with the number");
        assert!(said.contains("K999"), "{said}");
    }
);

/// A lending client with a contract, its payments and processes.
fn lending() -> Vec<(&'static str, &'static str)> {
    vec![
        ("customers.csv", "id,number,kind,name,status\n1,L1,client,Lea Lender,active\n"),
        ("application.csv", "id,customer_id,number,amount,applied_on\n1,1,A-1,500000,2023-12-01\n"),
        ("contract.csv", "id,application_id,number,principal,signed_on\n1,1,K-000001,500000,2024-01-01\n"),
        ("payment.csv", "id,contract_id,number,amount,paid_on\n1,1,1,12050,2024-01-10\n2,1,2,12050,2024-02-10\n3,1,3,1234567,2024-03-10\n"),
        ("process.csv", "id,contract_id,kind,at,amount\n1,1,accrual,2024-01-15 09:00:00,500\n2,1,accrual,2024-02-15 09:00:00,600\n"),
    ]
}

conformance!(
    in_a_browser_a_contract_page_lists_payments_newest_first_and_deletes_them_as_asked,
    |db: TestDb| {
        let s = start(&db, "lending", &lending());
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers/1"));
        b.click("a[href='/records/contract/1']");
        b.page_with("Contract K-000001");
        let payments = b.text("#kind-payment + .record-actions + .table-wrap");
        let (newest, oldest) = (
            payments.find("10 Mar 2024").unwrap(),
            payments.find("10 Jan 2024").unwrap(),
        );
        assert!(newest < oldest, "newest first: {payments}");
        assert!(
            payments.contains("12,345.67"),
            "money as people read it: {payments}"
        );
        b.axe();
        // Delete the newest payment: the preview lists it, then it goes.
        b.click("a[href^='/records/payment/delete?ids=3']");
        let preview = dialog_with(&b, "Delete 1 payment?");
        assert!(
            preview.contains("10 Mar 2024") && preview.contains("12,345.67"),
            "{preview}"
        );
        b.click("#modal .decide button");
        dialog_with(&b, " deleted.");
        // Processes from a date-time on.
        b.open(&format!("{base}/records/contract/1"));
        b.page_with("Contract K-000001");
        b.run("document.getElementById('from-process').value = '2024-02-01T00:00:00'; return 1");
        b.click("form[action='/records/process/delete'] button");
        let preview = dialog_with(&b, "Delete 1 process?");
        assert!(preview.contains("15 Feb 2024, 09:00"), "{preview}");
        b.click("#modal .decide button");
        dialog_with(&b, " deleted.");
        // All payments: blocked by the process of 15 January, and said so.
        b.open(&format!("{base}/records/contract/1"));
        b.page_with("Contract K-000001");
        b.click("a[href^='/records/payment/delete?owner=1']");
        let blocked = dialog_with(&b, "cannot be deleted");
        assert!(blocked.contains("on or after 2024-01-10"), "{blocked}");
        assert!(
            !b.has("#modal form[action='/records/payment/delete']"),
            "only Cancel"
        );
        let left = s
            .api(
                "GET",
                "/api/v1/customers/1/records/payment",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(left.as_array().map(Vec::len), Some(2), "{left}");
        let left = s
            .api(
                "GET",
                "/api/v1/customers/1/records/process",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    }
);

conformance!(
    in_a_browser_adding_a_customer_keeps_what_was_typed_when_refused,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers"));
        b.click("#add summary");
        b.type_into("#new-name", "Nora New");
        b.type_into("#new-number", "K11");
        b.click("form[action='/customers/new'] button");
        let error = b.text("#new-number-error");
        assert!(error.contains("K11"), "{error}");
        assert_eq!(
            b.run("return document.getElementById('new-name').value"),
            json!("Nora New")
        );
        assert!(b.url().ends_with("/customers"), "{}", b.url());
        b.axe();
        b.run("document.getElementById('new-number').value = ''; return 1");
        b.click("form[action='/customers/new'] button");
        b.page_with("<title>");
        let started = Instant::now();
        while !b.url().contains("/customers/") || b.url().ends_with("/customers/") {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "not on the new customer: {}",
                b.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(b.page_with("Nora New").contains("Nora New"));
    }
);

conformance!(
    in_a_browser_the_audit_log_filters_and_settings_save_the_reasons,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [14], "reason": "Moved away", "open_activities": "complete" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        b.log_in(&base, "ada", "admin-pass");
        // Settings: a manager's list of reasons, saved for everyone.
        b.open(&format!("{base}/settings"));
        b.run("document.getElementById('reasons-company').value = 'Relationship ended\\nAcquired'; return 1");
        b.click("form[action='/settings/reasons'] input[value=company] ~ p button:not([name])");
        let said = b.page_with("The reasons for a company are now");
        assert!(said.contains("Relationship ended, Acquired"), "saved");
        b.axe();
        // The audit log: only deactivations, each with its reason; then the settings change.
        b.open(&format!("{base}/audit"));
        b.run("document.getElementById('f-operation').value = 'deactivate'; return 1");
        b.click("form.filters button");
        b.url_with("operation=deactivate");
        b.page_with("Moved away");
        let table = b.text("main table");
        assert!(
            table.contains("K14 Ed Clean") && !table.contains("Set reasons"),
            "{table}"
        );
        assert!(b.url().contains("operation=deactivate"), "{}", b.url());
        b.axe();
        b.open(&format!("{base}/audit?operation=set-reasons"));
        let table = b.text("main table");
        assert!(table.contains("Reasons: Relationship ended, Company dissolved, Merged into another customer → Relationship ended, Acquired"), "{table}");
    }
);

conformance!(
    in_a_browser_cancelling_a_dialog_keeps_the_ticks_and_a_deleted_page_goes_to_the_list,
    |db: TestDb| {
        let s = start_legal(&db, 0);
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers"));
        b.click("input[name=id][value='11']");
        b.click("input[name=id][value='14']");
        b.click("button[value=deactivate]");
        dialog_with(&b, "Deactivate 2 customers");
        b.click("#modal a[data-close]");
        dialog_closed(&b);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            b.run("return document.querySelectorAll('input[name=id]:checked').length"),
            json!(2),
            "the ticks stay after Cancel"
        );
        assert_eq!(
            b.run("return document.activeElement.value"),
            json!("deactivate"),
            "focus is back on the button"
        );
        // Erasing the page's own customer (legal deletes hard): closing the result goes to
        // the list.
        b.open(&format!("{base}/customers/16"));
        b.click("a[href='/delete?ids=16']");
        dialog_with(&b, "Delete K16 Acme Corp");
        b.click("#modal .decide input[name=confirm]");
        b.click("#modal .decide button");
        dialog_with(&b, "1 deleted:");
        b.click("#modal .modal-bar [data-close]");
        b.url_with("/customers");
        let started = Instant::now();
        while b.url().ends_with("/customers/16") {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "still on the deleted customer"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!b.page().contains("Not found"));
    }
);

conformance!(
    in_a_browser_an_admin_forgets_one_person_and_erases_another_on_request,
    |db: TestDb| {
        let s = start(
            &db,
            "services",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,email,status\n1,1,person,Ann Lee,ann@example.com,active\n2,2,person,Bo Ek,bo@example.com,active\n",
                ),
                ("note.csv", "id,customer_id,body\n1,1,called back\n"),
            ],
        );
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.log_in(&base, "ada", "admin-pass");
        b.open(&format!("{base}/customers/1"));
        assert!(
            b.has("a[href='/api/v1/customers/1/export']"),
            "the access download is offered"
        );
        b.click("a[href='/forget?id=1']");
        let preview = dialog_with(&b, "What is masked");
        assert!(
            preview.contains("1 customer, 1 note") && preview.contains("note body"),
            "{preview}"
        );
        b.axe();
        b.click("#modal input[name=confirm]");
        b.click("#modal .decide button");
        dialog_with(&b, "Forgotten: customer 1");
        let ann = s
            .api("GET", "/api/v1/customers/1", &s.admin, Value::Null)
            .json();
        assert_eq!(ann["name"], "Forgotten customer");
        // Erasure on request, whatever the status.
        b.open(&format!("{base}/customers/2"));
        b.click("a[href='/erase?id=2']");
        dialog_with(&b, "Erase 2 Bo Ek on request");
        b.click("#modal input[name=confirm]");
        b.click("#modal .decide button");
        let done = dialog_with(&b, "1 purged:");
        assert!(done.contains("2 Bo Ek"), "{done}");
        assert_eq!(
            s.api("GET", "/api/v1/customers/2", &s.admin, Value::Null)
                .status,
            404
        );
    }
);

conformance!(
    every_page_passes_axe_without_serious_violations,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let Some(b) = Browser::start() else {
            return;
        };
        let base = format!("http://{}", s.addr);
        b.open(&format!("{base}/login"));
        b.page_with("<title>Log in");
        b.axe();
        b.log_in(&base, "ada", "admin-pass");
        for path in [
            "/customers",
            "/customers?view=deleted",
            "/customers?search=nobody-by-this-name",
            "/customers/11",
            "/customers/14",
            "/deactivate?ids=11,14",
            "/delete?ids=14",
            "/transfer?from=11",
            "/merge?from=14",
            "/audit",
            "/settings",
            "/duplicates",
            "/duplicates?by=name",
            "/no-such-page",
            "/customers/999999",
        ] {
            b.open(&format!("{base}{path}"));
            b.page_with("</main>");
            b.axe();
        }
    }
);

conformance!(the_schedules_page_and_its_review_pass_axe, |db: TestDb| {
    let owned = crate::schedules::files();
    let files: Vec<(&str, &str)> = owned.iter().map(|(f, b)| (*f, b.as_str())).collect();
    let s = crate::start_model(&db, crate::schedules::model(), &files, |st| {
        st.scheduler(Some(std::time::Duration::from_millis(200)))
    });
    let Some(b) = Browser::start() else {
        return;
    };
    let base = format!("http://{}", s.addr);
    b.log_in(&base, "ada", "admin-pass");
    // Once the scheduler proposed its run, the page shows it for review.
    for _ in 0..100 {
        b.open(&format!("{base}/schedules"));
        if b.text("main").contains("Waiting for approval") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    b.page_with("Approve: delete 2 customers");
    b.axe();
    b.click("form[action$='/approve'] input[name=confirm]");
    b.click("form[action$='/approve'] button");
    b.page_with("Approved run");
    b.axe();
});
