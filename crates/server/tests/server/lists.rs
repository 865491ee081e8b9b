//! Customer lists at scale: sorted by number, name, creation or status, paged by a keyset
//! cursor (`next`), with offsets only for small jumps.

use serde_json::{json, Value};

use offboard_testkit::{conformance, TestDb};

use super::jobs::server;

fn ids(page: &Value) -> Vec<i64> {
    page["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

conformance!(
    lists_sort_and_page_by_cursor_through_every_customer_once,
    |db: TestDb| {
        let s = server(&db, std::time::Duration::ZERO);
        for sort in ["number", "-name", "created_at", "-status", "-id", "name"] {
            let whole = s
                .api(
                    "GET",
                    &format!("/api/v1/customers?view=all&sort={sort}&limit=1000"),
                    &s.admin,
                    Value::Null,
                )
                .json();
            assert_eq!(whole["sort"], sort);
            assert!(whole["next"].is_null(), "one page holds them all: {sort}");
            let all = whole["customers"].as_array().unwrap().clone();
            assert_eq!(all.len() as i64, whole["total"].as_i64().unwrap());
            // The order is the sort column's, then the id's.
            let key = sort.trim_start_matches('-');
            for pair in all.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                let ordered = if key == "id" || key == "name" {
                    true // names: the database's collation; ids: below
                } else {
                    let (x, y) = (a[key].as_str().unwrap(), b[key].as_str().unwrap());
                    if sort.starts_with('-') {
                        x > y || (x == y && a["id"].as_i64() > b["id"].as_i64())
                    } else {
                        x < y || (x == y && a["id"].as_i64() < b["id"].as_i64())
                    }
                };
                assert!(ordered, "{sort}: {a} before {b}");
            }
            // Following `next` 37 at a time yields the same customers in the same order.
            let mut paged = Vec::new();
            let mut url = format!("/api/v1/customers?view=all&sort={sort}&limit=37");
            for _ in 0..100 {
                let page = s.api("GET", &url, &s.admin, Value::Null);
                assert_eq!(page.status, 200, "{}", page.body);
                let page = page.json();
                paged.extend(ids(&page));
                match page["next"].as_str() {
                    Some(next) => url = next.to_string(),
                    None => break,
                }
            }
            assert_eq!(paged, ids(&whole), "{sort}");
        }
        let mut by_id = ids(&s
            .api(
                "GET",
                "/api/v1/customers?view=all&sort=-id&limit=1000",
                &s.admin,
                Value::Null,
            )
            .json());
        let desc = by_id.clone();
        by_id.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(by_id, desc);
        // A cursor keeps the filters; one from another sort or made up is refused.
        let page = s
            .api(
                "GET",
                "/api/v1/customers?view=all&kind=person&sort=name&limit=5",
                &s.admin,
                Value::Null,
            )
            .json();
        let next = page["next"].as_str().unwrap();
        assert!(
            next.contains("kind=person") && next.contains("sort=name"),
            "{next}"
        );
        let cursor = next.split("cursor=").nth(1).unwrap();
        let r = s.api(
            "GET",
            &format!("/api/v1/customers?view=all&sort=number&cursor={cursor}"),
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("sorted by `name`"), "{}", r.body);
        let r = s.api("GET", "/api/v1/customers?cursor=zz", &s.admin, Value::Null);
        assert_eq!(r.status, 400, "{}", r.body);
        let r = s.api("GET", "/api/v1/customers?sort=email", &s.admin, Value::Null);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("created_at"), "{}", r.body);
        let r = s.api(
            "GET",
            "/api/v1/customers?offset=20000",
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("next"), "{}", r.body);
    }
);

conformance!(
    a_view_exports_as_csv_and_xlsx_with_record_counts,
    |db: TestDb| {
        let s = server(&db, std::time::Duration::ZERO);
        let list = s
            .api(
                "GET",
                "/api/v1/customers?view=deleted&limit=1000",
                &s.admin,
                Value::Null,
            )
            .json();
        let r = s.api(
            "GET",
            "/api/v1/customers/export?view=deleted&format=csv",
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r
            .header("content-disposition")
            .unwrap()
            .contains("customers-deleted.csv"));
        let mut reader = csv::Reader::from_reader(r.body.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(&header[..3], ["id", "number", "kind"]);
        assert!(header.contains(&"invoice_count".to_string()), "{header:?}");
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let listed = ids(&list);
        let exported: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        assert_eq!(exported, listed, "the view, in its order, every customer");
        // The counts are each customer's records.
        let first = &rows[0];
        let shown = s
            .api(
                "GET",
                &format!("/api/v1/customers/{}", &first[0]),
                &s.admin,
                Value::Null,
            )
            .json();
        for (i, h) in header.iter().enumerate() {
            if let Some(kind) = h.strip_suffix("_count") {
                assert_eq!(
                    first[i].parse::<i64>().unwrap(),
                    shown["records"][kind].as_i64().unwrap(),
                    "{kind} of {}",
                    &first[0]
                );
            }
        }
        // A workbook of the same view.
        let r = s.api(
            "GET",
            "/api/v1/customers/export?view=deleted&format=xlsx&sort=name",
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().contains("spreadsheetml"));
        // Exporting needs the model's export permission; bad input is a 400 before anything.
        let r = s.api("GET", "/api/v1/customers/export", &s.viewer, Value::Null);
        assert_eq!(r.status, 403, "{}", r.body);
        let r = s.api(
            "GET",
            "/api/v1/customers/export?format=pdf",
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let r = s.api(
            "GET",
            "/api/v1/customers/export?kind=robot",
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 400, "{}", r.body);
    }
);

conformance!(
    a_lists_total_follows_a_change_made_meanwhile,
    |db: TestDb| {
        let s = server(&db, std::time::Duration::ZERO);
        let total = |s: &crate::Server| {
            s.api(
                "GET",
                "/api/v1/customers?view=deleted&limit=1",
                &s.admin,
                Value::Null,
            )
            .json()["total"]
                .as_i64()
                .unwrap()
        };
        let before = total(&s);
        assert_eq!(total(&s), before, "the same total again");
        let active = s
            .api(
                "GET",
                "/api/v1/customers?view=active&limit=1",
                &s.admin,
                Value::Null,
            )
            .json()["customers"][0]["id"]
            .as_i64()
            .unwrap();
        let r = s.api(
            "POST",
            "/api/v1/delete",
            &s.admin,
            serde_json::json!({ "customers": [active] }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(total(&s), before + 1, "the total counts the change at once");
    }
);

conformance!(pages_show_values_as_people_read_them, |db: TestDb| {
    let s = crate::start(&db, "legal", &crate::legal());
    let cookie = s.session("ada", "admin-pass");
    // The design: a stylesheet and an icon served from the binary, linked from each page.
    let list = s.page("GET", "/customers", &cookie, "");
    assert!(
        list.body.contains(r#"href="/assets/app.css""#),
        "{}",
        list.body
    );
    let css = s.call("GET", "/assets/app.css", &[], "");
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert_eq!(s.call("GET", "/favicon.svg", &[], "").status, 200);
    // Statuses as pills, kinds as words, sortable columns.
    assert!(
        list.body
            .contains(r#"<span class="pill active">Active</span>"#),
        "{}",
        list.body
    );
    assert!(list.body.contains("sort=name"), "{}", list.body);
    // A customer's invoice: money with two decimals in the model's currency (legal: EUR),
    // the owner column left out.
    let page = s.page("GET", "/customers/11", &cookie, "");
    assert!(
        page.body.contains(">€25.00<") && page.body.contains(">€100.00<"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(">2500<"), "no raw cents: {}", page.body);
    assert!(!page.body.contains("<th>Customer</th>"), "{}", page.body);
    assert!(page.body.contains("<th>Issued on</th>"), "{}", page.body);
    // A search that finds nothing says so and how to go on.
    let none = s.page("GET", "/customers?search=zzzzq", &cookie, "");
    assert!(none.body.contains("No customers match."), "{}", none.body);
    // Record kinds under their label in the model.
    assert!(
        page.body.contains(">Invoices <span"),
        "the kind's label: {}",
        page.body
    );
    // The selection's actions come before the rows: Tab reaches them first.
    let action = list.body.find(r#"value="deactivate""#).unwrap();
    let first_row = list.body.find(r#"name="id""#).unwrap();
    assert!(action < first_row, "the toolbar precedes the rows");
    // A page size of the user's choosing, kept by the sort links.
    let small = s.page("GET", "/customers?limit=25", &cookie, "");
    assert!(
        small.body.contains(r#"<option value="25" selected>"#),
        "{}",
        small.body
    );
    assert!(
        small.body.contains("limit=25&amp;sort=name"),
        "{}",
        small.body
    );
    // A company's page lists its contact persons (the link's label in the model).
    let acme = s
        .api(
            "POST",
            "/api/v1/customers",
            &s.admin,
            serde_json::json!({ "kind": "company", "name": "Acme GmbH" }),
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let r = s.api(
        "POST",
        "/api/v1/customers",
        &s.admin,
        serde_json::json!({ "kind": "person", "name": "Cora Contact", "fields": { "company_id": acme } }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let company = s.page("GET", &format!("/customers/{acme}"), &cookie, "");
    assert!(company.body.contains("Contact persons"), "{}", company.body);
    assert!(company.body.contains("Cora Contact"), "{}", company.body);
    // ... and the person's page names the company by number and name.
    let cora = r.json()["id"].as_i64().unwrap();
    let person = s.page("GET", &format!("/customers/{cora}"), &cookie, "");
    assert!(person.body.contains("Acme GmbH</a>"), "{}", person.body);
    // The audit log says what happened in words, not JSON.
    let audit = s.page("GET", "/audit", &cookie, "");
    assert!(audit.body.contains("Acme GmbH"), "{}", audit.body);
    assert!(
        !audit.body.contains("{&quot;"),
        "no raw JSON: {}",
        audit.body
    );
    // Pickers: a target customer by its number, or as picked from the suggestions.
    assert_eq!(s.call("GET", "/assets/app.js", &[], "").status, 200);
    assert_eq!(s.call("GET", "/assets/htmx.min.js", &[], "").status, 200);
    let fourteen = s.page("GET", "/customers/14", &cookie, "");
    assert!(fourteen.body.contains("data-pick"), "{}", fourteen.body);
    let merge = s.page("GET", "/merge?duplicate=14&into=K11+Bo+Owes", &cookie, "");
    assert_eq!(merge.status, 200, "{}", merge.body);
    assert!(
        merge.body.contains(r#"name="into" value="11""#),
        "{}",
        merge.body
    );
    let merge = s.page("GET", "/merge?duplicate=14&into=K11", &cookie, "");
    assert!(
        merge.body.contains(r#"name="into" value="11""#),
        "{}",
        merge.body
    );
    let unknown = s.page("GET", "/merge?duplicate=14&into=K99", &cookie, "");
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.body.contains("no customer with the number `K99`"),
        "{}",
        unknown.body
    );
    // A confirmation keeps its decision above the plan, however long the plan is.
    let decide = merge.body.find(r#"class="card decide""#).unwrap();
    let summary = merge.body.find("candidate:").unwrap();
    assert!(decide < summary, "{}", merge.body);
    // A malformed address is a page in words, not the framework's line of text.
    let bad = s.page("GET", "/customers/abc", &cookie, "");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not what was expected"), "{}", bad.body);
    assert!(!bad.body.contains("i64"), "{}", bad.body);
});

conformance!(
    the_audit_log_filters_by_customer_operation_actor_and_day_and_pages,
    |db: TestDb| {
        let s = crate::start(&db, "legal", &crate::legal());
        let cookie = crate::log_in(&s);
        // An edit (by ada's session) and a deactivation (by ada's token).
        let r = s.page(
            "POST",
            "/customers/14/edit",
            &cookie,
            "name=Ed+Cleaner&number=K14&email=",
        );
        assert!(r.status < 400, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [14], "reason": "Moved away", "open_activities": "complete" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        // The edit shows as a before → after list.
        let edits = s.page("GET", "/audit?operation=edit", &cookie, "");
        assert!(
            edits.body.contains("<li>Name: Ed Clean → Ed Cleaner</li>"),
            "{}",
            edits.body
        );
        assert!(
            !edits.body.contains("Moved away"),
            "only edits: {}",
            edits.body
        );
        let by_customer = s.page(
            "GET",
            "/audit?customer=K14&operation=deactivate",
            &cookie,
            "",
        );
        assert!(
            by_customer.body.contains("Moved away"),
            "{}",
            by_customer.body
        );
        let by_actor = s.page("GET", "/audit?actor=nobody", &cookie, "");
        assert!(
            by_actor.body.contains("No entries match"),
            "{}",
            by_actor.body
        );
        let today = s
            .api("GET", "/api/v1/audit?limit=1", &s.admin, Value::Null)
            .json()[0]["at"]
            .as_str()
            .unwrap()[..10]
            .to_string();
        let on_the_day = s.page(
            "GET",
            &format!("/audit?from={today}&to={today}"),
            &cookie,
            "",
        );
        assert!(on_the_day.body.contains("Moved away"));
        let before = s.page("GET", "/audit?to=2000-01-01", &cookie, "");
        assert!(before.body.contains("No entries match"));
        let bad = s.page("GET", "/audit?from=yesterday", &cookie, "");
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("YYYY-MM-DD"), "{}", bad.body);
        // Paging: entries older than a sequence number.
        let first = s
            .api("GET", "/api/v1/audit?limit=1", &s.admin, Value::Null)
            .json()[0]["seq"]
            .as_i64()
            .unwrap();
        let older = s.page("GET", &format!("/audit?before={first}"), &cookie, "");
        assert!(!older
            .body
            .contains(&format!("<td class=\"num\">{first}</td>")));
        assert!(
            older.body.contains("Ed Clean → Ed Cleaner"),
            "{}",
            older.body
        );
        assert!(older.body.contains("« Newest"));
    }
);

conformance!(
    an_admin_manages_users_and_tokens_in_settings,
    |db: TestDb| {
        let s = crate::start(&db, "legal", &crate::legal());
        let cookie = crate::log_in(&s);
        let page = s.page("GET", "/settings", &cookie, "");
        assert!(page.body.contains("Add a user"), "{}", page.body);
        assert!(page.body.contains("Deactivation reasons"));
        let add = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=add&user=cleo&role=clerk&password=clerk-pass-123",
        );
        assert_eq!(add.status, 200, "{}", add.body);
        assert!(
            add.body.contains("cleo was added as clerk."),
            "{}",
            add.body
        );
        // The same name again is refused, in words, on the page.
        let again = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=add&user=cleo&role=clerk",
        );
        assert_eq!(again.status, 422);
        assert!(again.body.contains("class=\"error\""), "{}", again.body);
        // A role change is asked once more (Cancel has the focus) and done only when confirmed.
        let ask = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=role&user=cleo&role=manager",
        );
        assert_eq!(ask.status, 200, "{}", ask.body);
        assert!(ask.body.contains("Make cleo a manager"), "{}", ask.body);
        assert!(
            ask.body.contains("data-close autofocus>Cancel</a>"),
            "{}",
            ask.body
        );
        assert!(
            ask.body.contains("name=\"confirm\" value=\"yes\""),
            "{}",
            ask.body
        );
        assert!(!s
            .page("GET", "/settings", &cookie, "")
            .body
            .contains("cleo is now"));
        let role = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=role&user=cleo&role=manager&confirm=yes",
        );
        assert!(role.body.contains("cleo is now manager."), "{}", role.body);
        // A token is shown once, and works for the API until revoked.
        let token = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=token&user=cleo&label=laptop",
        );
        let start =
            token.body.find("<code class=\"token\">").unwrap() + "<code class=\"token\">".len();
        let secret = token.body[start..].split('<').next().unwrap().to_string();
        let me = s.api("GET", "/api/v1/customers?limit=1", &secret, Value::Null);
        assert_eq!(me.status, 200, "{}", me.body);
        // Tokens are listed one by one (label, id, never the secret) and revoked one by one.
        let second = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=token&user=cleo&label=billing+sync",
        );
        let start =
            second.body.find("<code class=\"token\">").unwrap() + "<code class=\"token\">".len();
        let other = second.body[start..].split('<').next().unwrap().to_string();
        let settings = s.page("GET", "/settings", &cookie, "").body;
        assert!(settings.contains("laptop") && settings.contains("billing sync"));
        assert!(!settings.contains(&secret) && !settings.contains(&other));
        assert_eq!(
            settings
                .matches("name=\"user\" value=\"cleo\"><input type=\"hidden\" name=\"token\"")
                .count(),
            2,
            "{settings}"
        );
        // The laptop's token, by the id its row shows.
        let laptop = settings
            .split("<span>laptop</span> <small class=\"muted\">")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("{settings}"))
            .to_string();
        assert_eq!(laptop.len(), 12, "{laptop}");
        let ask = s.page(
            "POST",
            "/settings/users",
            &cookie,
            &format!("do=revoke-token&user=cleo&token={laptop}"),
        );
        assert!(ask.body.contains("Revoke laptop of cleo"), "{}", ask.body);
        assert_eq!(
            s.api("GET", "/api/v1/customers?limit=1", &secret, Value::Null)
                .status,
            200,
            "asking revoked nothing"
        );
        let one = s.page(
            "POST",
            "/settings/users",
            &cookie,
            &format!("do=revoke-token&user=cleo&token={laptop}&confirm=yes"),
        );
        assert!(
            one.body.contains("The token laptop of cleo was revoked."),
            "{}",
            one.body
        );
        assert_eq!(
            s.api("GET", "/api/v1/customers?limit=1", &secret, Value::Null)
                .status,
            401
        );
        assert_eq!(
            s.api("GET", "/api/v1/customers?limit=1", &other, Value::Null)
                .status,
            200,
            "the other token still works"
        );
        let revoke = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=revoke&user=cleo&confirm=yes",
        );
        assert!(revoke.body.contains("Every API token of cleo was revoked"));
        assert_eq!(
            s.api("GET", "/api/v1/customers?limit=1", &other, Value::Null)
                .status,
            401
        );
        // Each change is in the audit log.
        let audit = s
            .api("GET", "/api/v1/audit?limit=20", &s.admin, Value::Null)
            .json();
        let ops: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["operation"].as_str())
            .collect();
        for op in [
            "add-user",
            "set-role",
            "create-token",
            "revoke-token",
            "revoke-tokens",
        ] {
            assert!(ops.contains(&op), "{op} in {ops:?}");
        }
        // A manager sees the model, not the users, and may not change them.
        let manager = s.session("cleo", "clerk-pass-123");
        let page = s.page("GET", "/settings", &manager, "");
        assert!(!page.body.contains("Add a user") && page.body.contains("Permissions"));
        let refused = s.page(
            "POST",
            "/settings/users",
            &manager,
            "do=role&user=ada&role=viewer",
        );
        assert_eq!(refused.status, 403, "{}", refused.body);

        // Disabled: logged out at once, no login, no token; enabled again, both work.
        let token = s.page("POST", "/settings/users", &cookie, "do=token&user=cleo");
        let start =
            token.body.find("<code class=\"token\">").unwrap() + "<code class=\"token\">".len();
        let secret = token.body[start..].split('<').next().unwrap().to_string();
        let ask = s.page("POST", "/settings/users", &cookie, "do=disable&user=cleo");
        assert!(ask.body.contains("Disable cleo"), "{}", ask.body);
        assert_eq!(s.page("GET", "/customers", &manager, "").status, 200);
        let disabled = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=disable&user=cleo&confirm=yes",
        );
        assert!(
            disabled.body.contains("cleo is disabled"),
            "{}",
            disabled.body
        );
        assert!(
            disabled
                .body
                .contains("<span class=\"badge\">disabled</span>"),
            "{}",
            disabled.body
        );
        assert_ne!(s.page("GET", "/customers", &manager, "").status, 200);
        let status = |t: &str| {
            s.api("GET", "/api/v1/customers?limit=1", t, Value::Null)
                .status
        };
        assert_eq!(status(&secret), 401);
        let login = s.api(
            "POST",
            "/api/v1/login",
            "",
            json!({ "user": "cleo", "password": "clerk-pass-123" }),
        );
        assert_eq!(login.status, 401, "{}", login.body);
        let enabled = s.page("POST", "/settings/users", &cookie, "do=enable&user=cleo");
        assert!(
            enabled.body.contains("cleo is enabled again."),
            "{}",
            enabled.body
        );
        assert_eq!(status(&secret), 200);
        // Removed: gone with their tokens; the audit log keeps what they did.
        let removed = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=remove&user=cleo&confirm=yes",
        );
        assert!(
            removed.body.contains("cleo was removed"),
            "{}",
            removed.body
        );
        assert_eq!(status(&secret), 401);
        let audit = s
            .api("GET", "/api/v1/audit?limit=50", &s.admin, Value::Null)
            .json();
        let ops: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["operation"].as_str())
            .collect();
        for op in ["disable-user", "enable-user", "remove-user"] {
            assert!(ops.contains(&op), "{op} in {ops:?}");
        }
        // The only admin is neither asked nor able to disable or remove itself.
        for action in ["disable", "remove"] {
            let r = s.page(
                "POST",
                "/settings/users",
                &cookie,
                &format!("do={action}&user=ada&confirm=yes"),
            );
            assert_eq!(r.status, 422, "{}", r.body);
            assert!(r.body.contains("only"), "{}", r.body);
        }
    }
);

conformance!(
    a_manager_edits_the_deactivation_reasons_and_every_connection_uses_them,
    |db: TestDb| {
        let s = crate::start(&db, "legal", &crate::legal());
        let cookie = crate::log_in(&s);
        let page = s.page("GET", "/settings", &cookie, "");
        assert!(page.body.contains("name=\"reasons\""), "{}", page.body);
        let saved = s.page(
            "POST",
            "/settings/reasons",
            &cookie,
            "kind=person&reasons=Moved+away%0D%0ARetired%0D%0A",
        );
        assert_eq!(saved.status, 200, "{}", saved.body);
        assert!(
            saved
                .body
                .contains("The reasons for a person are now: Moved away, Retired."),
            "{}",
            saved.body
        );
        // The dialog offers the new list; "Deceased" (the file's) is gone.
        let dialog = s.page("GET", "/deactivate?ids=14", &cookie, "");
        assert!(
            dialog.body.contains("<option>Retired</option>"),
            "{}",
            dialog.body
        );
        assert!(!dialog.body.contains("Deceased"));
        // The API (any pooled connection) takes the new reason and refuses the removed one.
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [11], "reason": "Deceased", "dry_run": true }),
        );
        assert_eq!(r.json()["deactivated"], 0, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [14], "reason": "Retired", "open_activities": "complete" }),
        );
        assert_eq!(r.json()["deactivated"], 1, "{}", r.body);
        // Refused in words: an empty list.
        let empty = s.page(
            "POST",
            "/settings/reasons",
            &cookie,
            "kind=person&reasons=+",
        );
        assert_eq!(empty.status, 422);
        assert!(empty.body.contains("at least one reason"), "{}", empty.body);
        // Audited, and back to the file's list.
        let audit = s
            .api("GET", "/api/v1/audit?limit=5", &s.admin, Value::Null)
            .json();
        assert!(audit.to_string().contains("set-reasons"), "{audit}");
        let reset = s.page("POST", "/settings/reasons", &cookie, "kind=person&do=reset");
        assert!(
            reset
                .body
                .contains("Relationship ended, Deceased, Moved away"),
            "{}",
            reset.body
        );
        // A clerk may not.
        let r = s.call(
            "POST",
            "/settings/users",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", &cookie),
            ],
            "do=add&user=cleo&role=clerk&password=clerk-pass-123",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let clerk = s.session("cleo", "clerk-pass-123");
        let refused = s.page("POST", "/settings/reasons", &clerk, "kind=person&reasons=X");
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(!s
            .page("GET", "/settings", &clerk, "")
            .body
            .contains("name=\"reasons\""));
    }
);

conformance!(
    a_later_page_counts_from_where_it_starts_and_a_gone_customers_log_stays_reachable,
    |db: TestDb| {
        let mut customers = String::from("id,number,kind,name,status\n");
        for i in 1..=60 {
            customers.push_str(&format!("{i},{i},person,Person {i:02},active\n"));
        }
        let s = crate::start(&db, "services", &[("customers.csv", customers.as_str())]);
        let cookie = crate::log_in(&s);
        let first = s.page("GET", "/customers?limit=25", &cookie, "");
        assert!(first.body.contains("1–25 of 60"), "{}", first.body);
        let next = first
            .body
            .split("href=\"")
            .find(|p| p.contains("cursor="))
            .unwrap();
        let next = next
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#x2f;", "/");
        let second = s.page("GET", &next, &cookie, "");
        assert!(
            second.body.contains("26–50 of 60"),
            "{} {next} {}",
            second.status,
            second.body
        );
        // An erased customer's log: by its id, and its entries say it is gone.
        let r = s.api(
            "POST",
            "/api/v1/erase",
            &s.admin,
            json!({ "customers": [7] }),
        );
        assert_eq!(r.json()["purged"], 1, "{}", r.body);
        let log = s.page("GET", "/audit?customer=7", &cookie, "");
        assert_eq!(log.status, 200, "{}", log.body);
        assert!(log.body.contains("(gone)"), "{}", log.body);
        assert!(!log.body.contains("href=\"/customers/7\""), "{}", log.body);
        // A user without a password could never log in: refused.
        let add = s.page(
            "POST",
            "/settings/users",
            &cookie,
            "do=add&user=tess&role=clerk&password=",
        );
        assert_eq!(add.status, 422);
        assert!(add.body.contains("give tess a password"), "{}", add.body);
    }
);

conformance!(
    blockers_read_as_people_say_them_with_amounts_and_records_in_words,
    |db: TestDb| {
        let s = crate::start(
            &db,
            "legal",
            &[
                ("customers.csv", "id,number,kind,name,status\n11,K11,person,Bo Owes,active\n"),
                ("invoice.csv", "id,customer_id,number,total,balance,issued_on\n1,11,1,500000,250000,2024-01-01\n"),
                ("activity.csv", "id,customer_id,subject,critical,done,due_on\n2,11,Call back,0,1,2024-05-01\n3,11,Write,0,1,2024-05-02\n"),
            ],
        );
        let cookie = crate::log_in(&s);
        let dialog = s.page("GET", "/deactivate?ids=11", &cookie, "");
        assert!(
            dialog.body.contains("€2,500.00"),
            "in the model's currency: {}",
            dialog.body
        );
        assert!(
            !dialog.body.contains("[open-invoices"),
            "no rule ids in the text: {}",
            dialog.body
        );
        // Erasing: the records that must go first, counted in words.
        let preview = s.page("GET", "/delete?ids=11", &cookie, "");
        assert!(
            preview.body.contains("2 activities still there"),
            "{}",
            preview.body
        );
        // Each named and linked to its own page, not by an internal id.
        assert!(
            preview.body.contains(r#"<a href="&#x2f;records&#x2f;activity&#x2f;2">Activity: Call back</a>, <a href="&#x2f;records&#x2f;activity&#x2f;3">Activity: Write</a>"#),
            "{}",
            preview.body
        );
        assert!(!preview.body.contains("(#2, #3)"), "{}", preview.body);
        // On the customer's page an activity links from its subject, not from its tick.
        let page = s.page("GET", "/customers/11", &cookie, "");
        assert!(
            page.body
                .contains(r#"<a href="&#x2f;records&#x2f;activity&#x2f;2">Call back</a>"#),
            "{}",
            page.body
        );
    }
);

conformance!(
    a_blocker_names_the_customer_that_blocks_and_links_to_it,
    |db: TestDb| {
        // legal: a subsidiary blocks its parent's deactivation.
        let s = crate::start(
            &db,
            "legal",
            &[(
                "customers.csv",
                "id,number,kind,name,status,parent_id\n20,K000020,company,Holding AG,active,\n21,K000021,company,Daughter GmbH,active,20\n",
            )],
        );
        let cookie = crate::log_in(&s);
        let dialog = s.page("GET", "/deactivate?ids=20", &cookie, "");
        assert_eq!(dialog.status, 200, "{}", dialog.body);
        assert!(
            dialog.body.contains("1 active subsidiary"),
            "{}",
            dialog.body
        );
        // The subsidiary by number and name, linking to its page — not "record 21" on the
        // blocked customer's own page.
        assert!(
            dialog
                .body
                .contains(r#"<a href="&#x2f;customers&#x2f;21">K000021 Daughter GmbH</a>"#),
            "{}",
            dialog.body
        );
        assert!(!dialog.body.contains("record 21"), "{}", dialog.body);
        let page = s.page("GET", "/customers/20", &cookie, "");
        assert!(
            page.body
                .contains(r#"<a href="&#x2f;customers&#x2f;21">K000021 Daughter GmbH</a>"#),
            "the customer page's blockers too: {}",
            page.body
        );
    }
);

conformance!(
    records_are_named_by_their_numbers_not_internal_ids,
    |db: TestDb| {
        // lending: a contract names its application, a payment its contract, by number.
        let l = crate::start(
            &db,
            "lending",
            &[
                ("customers.csv", "id,number,kind,name,email,status\n1,L0000001,client,Ann Lee,ann@example.com,active\n"),
                ("application.csv", "id,customer_id,number,amount,applied_on\n56,1,A-56,100000,2024-01-01\n"),
                ("contract.csv", "id,application_id,number,principal,signed_on\n44,56,K-000044,100000,2024-01-05\n"),
                ("payment.csv", "id,contract_id,number,amount,paid_on\n7,44,1,1000,2024-02-01\n"),
            ],
        );
        let cookie = crate::log_in(&l);
        let page = l.page("GET", "/customers/1", &cookie, "");
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            !page.body.contains("<th class=\"num\">#</th>"),
            "no internal id column: {}",
            page.body
        );
        // The application's own number links to its page; the contract's application is
        // named by its number.
        assert!(
            page.body
                .contains(r#"<a href="&#x2f;records&#x2f;application&#x2f;56">A-56</a>"#),
            "{}",
            page.body
        );
        let contract = l.page("GET", "/records/contract/44", &cookie, "");
        assert!(
            contract.body.contains(
                r#"<a href="&#x2f;records&#x2f;application&#x2f;56">Application A-56</a>"#
            ),
            "{}",
            contract.body
        );
        assert!(
            !contract.body.contains("<th class=\"num\">#</th>"),
            "{}",
            contract.body
        );
        let payment = l.page("GET", "/records/payment/7", &cookie, "");
        assert!(
            payment.body.contains("Contract K-000044"),
            "{}",
            payment.body
        );
        assert!(
            !payment.body.contains(">44<"),
            "no bare id: {}",
            payment.body
        );
    }
);

conformance!(
    the_recycle_bin_says_when_each_customer_will_be_erased,
    |db: TestDb| {
        let s = crate::start(
            &db,
            "services",
            &[(
                "customers.csv",
                "id,number,kind,name,status,deleted_at\n1,1,person,Ann Lee,active,\n2,2,person,Gone Guy,deleted,2024-01-01 00:00:00\n",
            )],
        );
        let cookie = crate::log_in(&s);
        let bin = s.page("GET", "/customers?view=deleted", &cookie, "");
        assert!(bin.body.contains("<th>Erased</th>"), "{}", bin.body);
        assert!(bin.body.contains("at the next cleanup"), "{}", bin.body);
        // When and by whom each was deleted: the import knows when, the log who.
        assert!(
            bin.body.contains(">Deleted on</a></th><th>Deleted by</th>"),
            "{}",
            bin.body
        );
        // The cleanup is above the list, not below fifty rows.
        let button = bin
            .body
            .find("Clean up the recycle bin")
            .expect("a cleanup button");
        assert!(button < bin.body.find("<table").unwrap(), "{}", bin.body);
        assert!(
            bin.body
                .contains("<td class=\"when\">1 Jan 2024, 00:00</td><td>–</td>"),
            "{}",
            bin.body
        );
        let r = s.api(
            "POST",
            "/api/v1/delete",
            &s.admin,
            json!({ "customers": [1] }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let bin = s.page("GET", "/customers?view=deleted", &cookie, "");
        assert!(
            bin.body.contains("</td><td>ada</td>"),
            "the one ada deleted says so: {}",
            bin.body
        );
        // Sorted by when they were deleted, either way, a page at a time.
        let at = |body: &str, name: &str| {
            body.find(name)
                .unwrap_or_else(|| panic!("{name} in {body}"))
        };
        let oldest = s.page(
            "GET",
            "/customers?view=deleted&sort=deleted_at",
            &cookie,
            "",
        );
        assert!(
            at(&oldest.body, "Gone Guy") < at(&oldest.body, "Ann Lee"),
            "{}",
            oldest.body
        );
        let newest = s.page(
            "GET",
            "/customers?view=deleted&sort=-deleted_at",
            &cookie,
            "",
        );
        assert!(
            at(&newest.body, "Ann Lee") < at(&newest.body, "Gone Guy"),
            "{}",
            newest.body
        );
        let first = s.page(
            "GET",
            "/customers?view=deleted&sort=-deleted_at&limit=1",
            &cookie,
            "",
        );
        assert_eq!(first.status, 200, "{}", first.body);
        let next = first
            .body
            .split("href=\"")
            .map(|h| {
                h.split('"')
                    .next()
                    .unwrap_or_default()
                    .replace("&amp;", "&")
                    .replace("&#x2f;", "/")
            })
            .find(|h| h.contains("cursor="))
            .unwrap_or_else(|| panic!("a next page: {}", first.body));
        let second = s.page("GET", &next, &cookie, "");
        assert_eq!(second.status, 200, "{}", second.body);
        assert!(
            second.body.contains("Gone Guy") && !second.body.contains("Ann Lee"),
            "{}",
            second.body
        );
        let api = s.api(
            "GET",
            "/api/v1/customers?view=deleted&sort=-deleted_at",
            &s.admin,
            Value::Null,
        );
        assert_eq!(api.status, 200, "{}", api.body);
        // Where no cleanup runs (legal), the bin says they are kept.
        let other = TestDb::new(db.backend).expect("a second database");
        let legal = crate::start(&other, "legal", &crate::legal());
        let cookie = crate::log_in(&legal);
        let bin = legal.page("GET", "/customers?view=deleted", &cookie, "");
        assert!(bin.body.contains("kept (no cleanup runs)"), "{}", bin.body);
    }
);

conformance!(
    a_plan_names_its_blocking_rules_in_words_and_emails_break_before_the_at,
    |db: TestDb| {
        let s = crate::start(&db, "legal", &crate::legal());
        let cookie = crate::log_in(&s);
        // Ed has an open activity: erasing him is blocked by it, said in words.
        let preview = s.page("GET", "/delete?ids=14", &cookie, "");
        assert!(
            preview
                .body
                .contains("Blocked by: activities still there (1)"),
            "{}",
            preview.body
        );
        assert!(
            !preview.body.contains("remaining-activity 1"),
            "{}",
            preview.body
        );
        let r = s.api(
            "PATCH",
            "/api/v1/customers/14",
            &s.admin,
            json!({ "email": "ed@example.com" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let list = s.page("GET", "/customers", &cookie, "");
        assert!(list.body.contains("ed<wbr>@example.com"), "{}", list.body);
        // A link field of the edit form offers the customer picker, set or not.
        let page = s.page("GET", "/customers/14", &cookie, "");
        assert!(
            page.body.contains(
                "id=\"f-company_id\" name=\"company_id\" value=\"\" list=\"customer-picks\""
            ),
            "{}",
            page.body
        );
    }
);

conformance!(
    the_home_page_says_what_needs_attention_each_linked_to_its_page,
    |db: TestDb| {
        let s = crate::start(&db, "legal", &crate::legal());
        let admin = crate::log_in(&s);
        // A deactivation of two customers: one line under the latest operations.
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [14], "reason": "Moved away", "open_activities": "complete" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/privacy/requests",
            &s.admin,
            json!({ "type": "access", "customer": 11, "received_on": "2020-01-02" }),
        );
        assert!(r.status == 201 || r.status == 200, "{}", r.body);
        let home = s.page("GET", "/", &admin, "");
        assert_eq!(home.status, 200, "{}", home.body);
        assert!(home.body.contains("<title>Today"), "{}", home.body);
        assert!(
            home.body.contains(
                "<a href=\"/customers?view=deactivated\"><strong>1</strong> deactivated</a>"
            ),
            "{}",
            home.body
        );
        assert!(home.body.contains("Latest operations"), "{}", home.body);
        assert!(home.body.contains("Deactivate"), "{}", home.body);
        assert!(home.body.contains("1 open"), "{}", home.body);
        assert!(home.body.contains("past due"), "{}", home.body);
        assert!(home.body.contains("Nothing runs in the background"));
        // A viewer sees the customers, not the audit log nor the privacy requests.
        let viewer = s.session("vic", "viewer-pass");
        let home = s.page("GET", "/", &viewer, "");
        assert_eq!(home.status, 200, "{}", home.body);
        assert!(home.body.contains("deactivated</a>"), "{}", home.body);
        assert!(!home.body.contains("Latest operations"), "{}", home.body);
        assert!(!home.body.contains("Privacy requests"), "{}", home.body);
    }
);

conformance!(
    the_merge_wizard_and_the_audit_log_name_customers_by_number_not_id,
    |db: TestDb| {
        let s = crate::start(
            &db,
            "legal",
            &[
                ("customers.csv", "id,number,kind,name,status,company_id\n30,K000030,company,Acme AG,active,\n31,K000031,company,Beta AG,active,\n21,K000021,person,Ann Lee,active,30\n22,K000022,person,Ann Lee,active,31\n"),
                ("activity.csv", "id,customer_id,subject,critical,done,due_on\n5,22,Call back,0,1,2024-05-01\n6,22,Write,0,1,2024-05-02\n"),
            ],
        );
        let cookie = crate::log_in(&s);
        let page = s.page("GET", "/merge/many?ids=21,22&into=21", &cookie, "");
        assert_eq!(page.status, 200, "{}", page.body);
        // The company each has, by number and name — not "30" and "31".
        assert!(page.body.contains("K000030 Acme AG"), "{}", page.body);
        assert!(page.body.contains("K000031 Beta AG"), "{}", page.body);
        // What moves, counted in words, not by record ids.
        assert!(page.body.contains("2 activities"), "{}", page.body);
        assert!(!page.body.contains("#5, #6"), "{}", page.body);
        let r = s.api(
            "POST",
            "/api/v1/merge",
            &s.admin,
            serde_json::json!({ "duplicate": 22, "into": 21 }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let log = s.page("GET", "/audit", &cookie, "");
        assert_eq!(log.status, 200, "{}", log.body);
        // The survivor's entry names what was merged by number; the undo data stays inside.
        assert!(log.body.contains("Merged: K000022"), "{}", log.body);
        assert!(!log.body.contains("Undo:"), "{}", log.body);
        assert!(!log.body.contains("Duplicates:"), "{}", log.body);
        assert!(!log.body.contains("Merged: 22"), "{}", log.body);
        assert!(log.body.contains("Into: K000021"), "{}", log.body);
    }
);

conformance!(
    the_api_filters_the_audit_log_as_the_audit_page_does,
    |db: TestDb| {
        let s = crate::start(&db, "legal", &crate::legal());
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            serde_json::json!({ "customers": [14], "reason": "Moved away", "open_activities": "complete" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/customers",
            &s.admin,
            serde_json::json!({ "kind": "person", "name": "New Person" }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let r = s.api(
            "GET",
            "/api/v1/audit?operation=deactivate",
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let list = r.json();
        let list = list.as_array().unwrap();
        assert!(!list.is_empty());
        assert!(
            list.iter().all(|e| e["operation"] == "deactivate"),
            "{list:?}"
        );
        let all = s
            .api(
                "GET",
                "/api/v1/audit?days=1&limit=1000",
                &s.admin,
                Value::Null,
            )
            .json();
        let all = all.as_array().unwrap();
        assert!(all.len() > list.len());
        let first = all[0]["seq"].as_i64().unwrap();
        let next = s
            .api(
                "GET",
                &format!("/api/v1/audit?before={first}&limit=1000"),
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(next.as_array().unwrap().len(), all.len() - 1);
        let none = s
            .api("GET", "/api/v1/audit?actor=nobody", &s.admin, Value::Null)
            .json();
        assert_eq!(none, serde_json::json!([]));
        let r = s.api(
            "GET",
            "/api/v1/audit?operation=deactivated",
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("no operation is called"), "{}", r.body);
        let r = s.api("GET", "/api/v1/audit?from=yesterday", &s.admin, Value::Null);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("`from`"), "{}", r.body);
    }
);

conformance!(
    the_edit_form_offers_only_what_applies_and_errors_speak_the_office_s_words,
    |db: TestDb| {
        let s = crate::start(
            &db,
            "legal",
            &[(
                "customers.csv",
                "id,number,kind,name,email,status\n30,K000030,company,Acme AG,,active\n31,K000031,person,Ann Lee,ann@example.com,active\n",
            )],
        );
        let cookie = crate::log_in(&s);
        // A person has a company, not a parent company: the form does not offer one.
        let person = s.page("GET", "/customers/31", &cookie, "");
        assert!(
            person.body.contains("id=\"f-company_id\""),
            "{}",
            person.body
        );
        assert!(
            !person.body.contains("id=\"f-parent_id\""),
            "{}",
            person.body
        );
        let company = s.page("GET", "/customers/30", &cookie, "");
        assert!(
            company.body.contains("id=\"f-parent_id\""),
            "{}",
            company.body
        );
        assert!(
            !company.body.contains("id=\"f-company_id\""),
            "{}",
            company.body
        );
        // An erased person's email may not come back: said without a command to type.
        let r = s.api(
            "POST",
            "/api/v1/erase",
            &s.admin,
            serde_json::json!({ "customers": [31] }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.page(
            "POST",
            "/customers/new",
            &cookie,
            "kind=person&name=Ann+Again&email=ann%40example.com",
        );
        assert!(r.body.contains("may not come back"), "{}", r.body);
        assert!(r.body.contains("take it off the blocklist"), "{}", r.body);
        assert!(!r.body.contains("offboard blocklist"), "{}", r.body);
    }
);

conformance!(
    a_list_search_finds_a_customer_by_part_of_its_number,
    |db: TestDb| {
        let s = crate::start(
            &db,
            "legal",
            &[(
                "customers.csv",
                "id,number,kind,name,status\n1,K002014,person,Ann Lee,active\n2,K000777,person,Bo Chan,active\n",
            )],
        );
        let r = s.api(
            "GET",
            "/api/v1/customers?search=2014",
            &s.viewer,
            Value::Null,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let list = r.json();
        let numbers: Vec<&str> = list["customers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["number"].as_str())
            .collect();
        assert_eq!(numbers, ["K002014"], "{}", r.body);
        let cookie = crate::log_in(&s);
        let page = s.page("GET", "/customers?search=2014", &cookie, "");
        assert!(page.body.contains("Ann Lee"), "{}", page.body);
        assert!(!page.body.contains("Bo Chan"), "{}", page.body);
    }
);
