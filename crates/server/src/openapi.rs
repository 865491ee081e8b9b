//! The OpenAPI 3.1 document of the JSON API, with the model's customer and record kinds.

use serde_json::{json, Value};

use offboard_model::Model;
use offboard_store::jobs::JobStatus;

fn op(summary: &str, tag: &str, body: Option<Value>, response: Value) -> Value {
    let mut o = json!({
        "summary": summary,
        "tags": [tag],
        "responses": {
            "200": { "description": "OK", "content": { "application/json": { "schema": response } } },
            "default": { "$ref": "#/components/responses/Error" }
        }
    });
    if let Some(b) = body {
        o["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": b } } });
    }
    o
}

/// A lifecycle call: the plan (200), or with `"background": true` the queued job (202).
fn lifecycle(summary: &str, body_schema: &str) -> Value {
    let mut o = op(
        summary,
        "lifecycle",
        Some(json!({ "$ref": format!("#/components/schemas/{body_schema}") })),
        json!({ "$ref": "#/components/schemas/Plan" }),
    );
    o["responses"]["202"] = json!({
        "description": "Queued as a background job (`\"background\": true`); `Location` is the job",
        "headers": { "Location": { "schema": { "type": "string" } } },
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Job" } } }
    });
    o
}

/// A lifecycle body's schema: `properties`, `dry_run` and `background`, nothing else.
fn body(required: &[&str], properties: Value) -> Value {
    let mut props = properties;
    props["dry_run"] =
        json!({ "type": "boolean", "default": false, "description": "plan only; nothing changes" });
    props["background"] = json!({ "type": "boolean", "default": false, "description": "run as a job: 202 and the job" });
    props["plan"] = plan_property();
    json!({ "type": "object", "required": required, "properties": props, "additionalProperties": false })
}

/// `plan`: the fingerprint of the dry run a person confirmed; an apply that would differ
/// changes nothing (409 `plan_changed`, the new plan in `details`).
fn plan_property() -> Value {
    json!({ "type": "string", "description": "the fingerprint of the dry run confirmed: when the plan would now differ, nothing changes (409 plan_changed, the new plan in details)" })
}

fn param(name: &str, location: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": location, "required": location == "path", "schema": schema, "description": description })
}

/// A query parameter the call cannot do without (`q` of the suggestions).
fn required(mut p: Value) -> Value {
    p["required"] = json!(true);
    p
}

/// The document served at `/api/v1/openapi.json`.
pub fn document(model: &Model) -> Value {
    let mut doc = paths(model);
    // What the generic `op` cannot say: created (201), no content (204), no credentials.
    for path in ["/api/v1/customers", "/api/v1/records/{kind}"] {
        let responses = &mut doc["paths"][path]["post"]["responses"];
        responses["201"] = responses["200"].take();
        if let Some(o) = responses.as_object_mut() {
            o.remove("200");
        }
    }
    doc["paths"]["/api/v1/logout"]["post"]["responses"] = json!({
        "204": { "description": "The session ended" },
        "default": { "$ref": "#/components/responses/Error" }
    });
    doc["paths"]["/api/v1/login"]["post"]["security"] = json!([]);
    doc
}

fn paths(model: &Model) -> Value {
    let kinds: Vec<&str> = model.records.iter().map(|k| k.name.as_str()).collect();
    let ids = json!({ "type": "array", "items": { "type": "integer" }, "minItems": 1 });
    let obj = json!({ "type": "object" });
    let id = param("id", "path", json!({ "type": "integer" }), "customer id");
    let kind = param(
        "kind",
        "path",
        json!({ "type": "string", "enum": kinds }),
        "record kind",
    );
    let mut show_customer = op(
        "A customer, with its record counts per kind",
        "customers",
        None,
        obj.clone(),
    );
    show_customer["parameters"] = json!([id]);
    let mut update_customer = op(
        "Change a customer's fields (audited)",
        "customers",
        Some(obj.clone()),
        obj.clone(),
    );
    update_customer["parameters"] = json!([id]);
    let mut list = op("List customers", "customers", None, obj.clone());
    list["parameters"] = json!([
        param(
            "view",
            "query",
            json!({ "type": "string", "enum": ["active", "deactivated", "current", "deleted", "all"] }),
            "which customers (default: the model's default view)"
        ),
        param(
            "search",
            "query",
            json!({ "type": "string" }),
            "name or email containing it, or a number"
        ),
        param(
            "kind",
            "query",
            json!({ "type": "string", "enum": model.customer.kinds }),
            "customer kind"
        ),
        param(
            "limit",
            "query",
            json!({ "type": "integer", "default": 50, "maximum": 1000 }),
            "page size"
        ),
        param(
            "sort",
            "query",
            json!({ "type": "string", "enum": ["id", "-id", "number", "-number", "name", "-name", "created_at", "-created_at", "status", "-status"], "default": "id" }),
            "order (then by id); a leading - sorts descending"
        ),
        param(
            "offset",
            "query",
            json!({ "type": "integer", "default": 0, "maximum": crate::requests::MAX_OFFSET }),
            "page start, for small jumps (further on, follow `next`)"
        ),
        param(
            "cursor",
            "query",
            json!({ "type": "string" }),
            "where the page starts: from the `next` link of the page before"
        ),
    ]);
    list["responses"]["200"]["content"]["application/json"]["schema"] = json!({
        "type": "object", "properties": {
            "view": { "type": "string" }, "sort": { "type": "string" },
            "total": { "type": "integer" },
            "total_exact": { "type": "boolean", "description": "false: at least `total` match (counting stops there)" },
            "offset": { "type": "integer" },
            "customers": { "type": "array", "items": { "type": "object" } },
            "next": { "type": ["string", "null"], "description": "the next page's URL (keyset cursor); null on the last page" } } });
    let mut records = op(
        "A customer's records of one kind",
        "records",
        None,
        json!({ "type": "array" }),
    );
    records["parameters"] = json!([id, kind]);
    let mut new_record = op(
        "Add a record (fields and owner link as cells)",
        "records",
        Some(obj.clone()),
        obj.clone(),
    );
    new_record["parameters"] = json!([kind]);
    let rid = param("id", "path", json!({ "type": "integer" }), "record id");
    let mut show_record = op("A record", "records", None, obj.clone());
    show_record["parameters"] = json!([kind, rid]);
    let mut update_record = op(
        "Change a record's fields (audited)",
        "records",
        Some(obj.clone()),
        obj.clone(),
    );
    update_record["parameters"] = json!([kind, rid]);
    let mut delete_records = lifecycle(
        "Delete records, restricted along owner chains (ordered kinds newest first)",
        "RecordDeleteBody",
    );
    delete_records["tags"] = json!(["records"]);
    delete_records["parameters"] = json!([kind]);
    let mut suggest = op(
        "Suggestions for pickers: active customers by number prefix, name or email, best first",
        "customers",
        None,
        json!({ "type": "array", "items": { "type": "object", "properties": {
            "id": { "type": "integer" }, "number": { "type": "string" }, "name": { "type": "string" },
            "kind": { "type": "string" }, "status": { "type": "string" } } } }),
    );
    suggest["parameters"] = json!([
        required(param(
            "q",
            "query",
            json!({ "type": "string" }),
            "what was typed"
        )),
        param(
            "view",
            "query",
            json!({ "type": "string", "enum": ["active", "deactivated", "current", "deleted", "all"], "default": "active" }),
            "which customers (default: active ones)"
        ),
        param(
            "limit",
            "query",
            json!({ "type": "integer", "default": 10, "maximum": 50 }),
            "at most this many"
        ),
    ]);
    let mut access = op(
        "Everything offboard holds about one customer: fields, records of every kind, links and audit entries (a person's right of access; needs `export`)",
        "customers",
        None,
        obj.clone(),
    );
    access["parameters"] = json!([param(
        "id",
        "path",
        json!({ "type": "integer" }),
        "the customer's id"
    )]);
    let mut export = op(
        "Download the customers of a view with their record counts per kind (needs `export`)",
        "customers",
        None,
        json!({ "type": "string" }),
    );
    export["parameters"] = json!([
        list["parameters"][0].clone(),
        list["parameters"][1].clone(),
        list["parameters"][2].clone(),
        list["parameters"][4].clone(),
        param(
            "format",
            "query",
            json!({ "type": "string", "enum": ["csv", "xlsx"], "default": "csv" }),
            "CSV (streamed) or an Excel workbook"
        ),
        param(
            "ids",
            "query",
            json!({ "type": "string", "example": "11,14" }),
            "only these customers, by id (at most 1,000): a selection of ticked rows"
        ),
    ]);
    export["responses"]["200"] = json!({
        "description": "The file (Content-Disposition: attachment)",
        "content": {
            "text/csv": { "schema": { "type": "string" } },
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": { "schema": { "type": "string", "format": "binary" } }
        }
    });
    let job_ref = json!({ "$ref": "#/components/schemas/Job" });
    let job_id = param("id", "path", json!({ "type": "integer" }), "job id");
    let mut jobs = op(
        "Background jobs, newest first",
        "jobs",
        None,
        json!({ "type": "array", "items": job_ref }),
    );
    jobs["parameters"] = json!([
        param(
            "status",
            "query",
            json!({ "type": "string", "enum": JobStatus::ALL.map(|j| j.name()) }),
            "only jobs of this status"
        ),
        param(
            "operation",
            "query",
            json!({ "type": "string", "enum": crate::lifecycle::Command::NAMES }),
            "only jobs of this operation"
        ),
        param(
            "number",
            "query",
            json!({ "type": "string" }),
            "only entries about the customer with this number (as the log recorded it: an erased customer's too)"
        ),
        param(
            "operation",
            "query",
            json!({ "type": "string" }),
            "only entries of this operation (deactivate, delete, merge, edit, import, set-role, ...)"
        ),
        param(
            "actor",
            "query",
            json!({ "type": "string" }),
            "only entries by this user"
        ),
        param(
            "from",
            "query",
            json!({ "type": "string", "format": "date" }),
            "from this day on"
        ),
        param(
            "to",
            "query",
            json!({ "type": "string", "format": "date" }),
            "up to this day"
        ),
        param(
            "days",
            "query",
            json!({ "type": "integer" }),
            "the last this many days, today included"
        ),
        param(
            "before",
            "query",
            json!({ "type": "integer" }),
            "the next page: entries before this one (the `seq` of the last entry of a page)"
        ),
        param(
            "limit",
            "query",
            json!({ "type": "integer", "default": 100 }),
            "at most this many"
        ),
    ]);
    let mut job = op(
        "One job: status, phase, progress; its plan or error once it ended",
        "jobs",
        None,
        job_ref.clone(),
    );
    job["parameters"] = json!([job_id]);
    let mut cancel_job = op(
        "Cancel a job that has not committed (a running one stops at its next step and rolls back)",
        "jobs",
        None,
        job_ref.clone(),
    );
    cancel_job["parameters"] = json!([job_id]);
    let mut audit = op(
        "The audit log, newest first",
        "audit",
        None,
        json!({ "type": "array" }),
    );
    audit["parameters"] = json!([
        param(
            "customer",
            "query",
            json!({ "type": "integer" }),
            "only entries about this customer"
        ),
        param(
            "limit",
            "query",
            json!({ "type": "integer", "default": 100 }),
            "at most this many"
        ),
    ]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("offboard API ({} model)", model.name),
            "version": "1",
            "description": "Take customers out of a system safely. Every lifecycle operation returns a plan: per customer proceeds, blocked (rule, message, count, amount, ids) or skipped (why). With `dry_run` nothing changes. Authenticate with `Authorization: Bearer <token>` (`offboard users token NAME`) or a session from /api/v1/login."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }, { "session": [] }],
        "paths": {
            "/api/v1/login": { "post": op("Start a session (sets a cookie)", "session", Some(json!({ "type": "object", "required": ["user", "password"], "properties": { "user": { "type": "string" }, "password": { "type": "string" } } })), obj.clone()) },
            "/api/v1/logout": { "post": op("End the session", "session", None, obj.clone()) },
            "/api/v1/me": { "get": op("Who is asking", "session", None, obj.clone()) },
            "/api/v1/model": { "get": op("The model: kinds, fields, links, rules, permissions", "model", None, obj.clone()) },
            "/api/v1/duplicates": { "get": op("Possible duplicates: customers of one kind (not deleted) sharing a normalised email, phone (last nine digits) or name; `by` (email,name,phone), `kind`, `limit` (at most 1,000); best first, each pair with its score and what it shares", "customers", None, json!({ "type": "array", "items": obj.clone() })) },
            "/api/v1/stats": { "get": op("Customers per status and records per kind", "model", None, obj.clone()) },
            "/api/v1/customers": {
                "get": list,
                "post": op("Add a customer (audited)", "customers", Some(json!({ "type": "object", "required": ["kind", "name"], "properties": { "kind": { "type": "string", "enum": model.customer.kinds }, "name": { "type": "string" }, "number": { "type": "string" }, "email": { "type": "string" }, "fields": { "type": "object" } } })), obj.clone())
            },
            "/api/v1/customers/suggest": { "get": suggest },
            "/api/v1/customers/export": { "get": export },
            "/api/v1/customers/{id}": { "get": show_customer, "patch": update_customer },
            "/api/v1/customers/{id}/records/{kind}": { "get": records },
            "/api/v1/customers/{id}/export": { "get": access },
            "/api/v1/forget": { "post": op("Forget now, purge later: mask every personal field of a customer and of its records (needs `purge`)", "lifecycle", Some(json!({ "type": "object", "additionalProperties": false, "required": ["customer"], "properties": { "customer": { "type": "integer" }, "dry_run": { "type": "boolean" }, "plan": plan_property() } })), obj.clone()) },
            "/api/v1/records/{kind}": { "post": new_record },
            "/api/v1/records/{kind}/{id}": { "get": show_record, "patch": update_record },
            "/api/v1/records/{kind}/delete": { "post": delete_records },
            "/api/v1/deactivate": { "post": lifecycle("Deactivate customers (reason, open activities)", "DeactivateBody") },
            "/api/v1/reactivate": { "post": lifecycle("Reactivate customers", "CustomersBody") },
            "/api/v1/delete": { "post": lifecycle("Delete customers (soft, inactivate or hard per the model; move_to for one)", "DeleteBody") },
            "/api/v1/undelete": { "post": lifecycle("Bring deleted customers back", "CustomersBody") },
            "/api/v1/purge": { "post": lifecycle("Erase the deleted customers (the cleanup)", "PurgeBody") },
            "/api/v1/erase": { "post": lifecycle("An erasure request: erase the named customers, whatever their status, planned as the purge (needs `purge`)", "CustomersBody") },
            "/api/v1/transfer": { "post": lifecycle("Move transferable records to another customer", "TransferBody") },
            "/api/v1/merge": { "post": lifecycle("Merge duplicates into one customer: `duplicate` (one) or `duplicates` (any number) into `into`; `take` chooses per field whose value stays (default: the survivor's, else the most recent non-empty); the plan's `merge` lists each field's candidates and winner and the conflicts resolved", "MergeBody") },
            "/api/v1/schedules": { "get": op("The model's schedules: what each does, whether it is due (it has not run in this period), its last run, a run waiting for review", "schedules", None, json!({ "type": "array", "items": obj.clone() })) },
            "/api/v1/schedules/run": { "post": op("Run the due schedules (or `schedule`; `force`: even when it ran in this period; `dry_run`: what each would do); `background` queues a job (needs `purge`)", "schedules", Some(json!({ "type": "object", "additionalProperties": false, "properties": { "schedule": { "type": "string" }, "force": { "type": "boolean" }, "dry_run": { "type": "boolean" }, "background": { "type": "boolean" }, "plan": plan_property() } })), obj.clone()) },
            "/api/v1/schedules/runs": { "get": op("Schedule runs, newest first; `schedule`, `state` (done, review, approved, rejected; review is the review queue) and `limit` filter", "schedules", None, json!({ "type": "array", "items": obj.clone() })) },
            "/api/v1/schedules/runs/{id}/approve": { "post": op("Approve a run waiting for review: its operation applies to the customers it proposed that still match (needs the schedule's review role); `?dry_run=true` says what approving does now, `?plan=FINGERPRINT` approves only that (409 plan_changed otherwise)", "schedules", None, obj.clone()) },
            "/api/v1/schedules/runs/{id}/reject": { "post": op("Reject a run waiting for review: nothing is applied", "schedules", None, obj.clone()) },
            "/api/v1/deleted-records": { "get": op("The records recycle bin: records deleted for good, newest first (`customer` filters), each with its values", "records", None, json!({ "type": "array", "items": obj.clone() })) },
            "/api/v1/deleted-records/restore": { "post": op("Bring records back from the bin, in order, each unless its owner is gone, its number is in use again or (an ordered kind) it would not be the newest", "records", Some(json!({ "type": "object", "additionalProperties": false, "required": ["entries"], "properties": { "entries": { "type": "array", "items": { "type": "integer" } }, "dry_run": { "type": "boolean" }, "plan": plan_property() } })), obj.clone()) },
            "/api/v1/undo": { "post": op("Take back the operation that wrote audit entry `entry` (a deactivation, a delete to the recycle bin or a merge) while nothing since depends on it; `dry_run` plans it. Erasures cannot be undone", "lifecycle", Some(json!({ "type": "object", "additionalProperties": false, "required": ["entry"], "properties": { "entry": { "type": "integer" }, "dry_run": { "type": "boolean" } } })), obj.clone()) },
            "/api/v1/jobs": { "get": jobs },
            "/api/v1/jobs/{id}": { "get": job, "delete": cancel_job },
            "/api/v1/audit": { "get": audit },
            "/api/v1/audit/verify": { "get": op("Check the audit log's hash chain", "audit", None, obj.clone()) },
            "/api/v1/privacy/requests": {
                "get": op("Privacy requests, the most urgent first; `status`, `type`, `overdue`, `open` and `customer` filter; each with `due_on` and `overdue` (needs `edit`)", "privacy", None, json!({ "type": "array", "items": obj.clone() })),
                "post": op("Log a privacy request: `type` (access, erasure, correction, restriction), `email` (or phone) or `customer`, `name`, `received_on`, `assignee`, `notes`; due 30 days after receipt (needs `edit`)", "privacy", Some(json!({ "type": "object", "additionalProperties": false, "required": ["type"], "properties": { "type": { "type": "string", "enum": ["access", "erasure", "correction", "restriction"] }, "email": { "type": "string" }, "customer": { "type": "integer" }, "name": { "type": "string" }, "received_on": { "type": "string", "format": "date" }, "assignee": { "type": "string" }, "notes": { "type": "string" } } })), obj.clone()),
            },
            "/api/v1/privacy/requests/{id}": { "get": op("One privacy request: its person, dates, verification, outcome and receipt (needs `edit`)", "privacy", None, obj.clone()) },
            "/api/v1/privacy/requests/{id}/verify": { "post": op("Record how the person's identity was verified; nothing is released or erased before (needs `privacy`)", "privacy", Some(json!({ "type": "object", "additionalProperties": false, "required": ["method"], "properties": { "method": { "type": "string" } } })), obj.clone()) },
            "/api/v1/privacy/requests/{id}/assign": { "post": op("Give the request to a user (needs `privacy`)", "privacy", Some(json!({ "type": "object", "additionalProperties": false, "required": ["user"], "properties": { "user": { "type": "string" } } })), obj.clone()) },
            "/api/v1/privacy/requests/{id}/extend": { "post": op("Extend the due date to 90 days after receipt, once, for a reason (needs `privacy`)", "privacy", Some(json!({ "type": "object", "additionalProperties": false, "required": ["reason"], "properties": { "reason": { "type": "string" } } })), obj.clone()) },
            "/api/v1/privacy/requests/{id}/run": { "post": op("Do what the request asks: access answers with the package; erasure erases, or forgets when something must legally stay (the outcome names the rule); restriction forgets and blocks; correction sets `set`. `dry_run` says what it would do (needs `privacy`)", "privacy", Some(json!({ "type": "object", "additionalProperties": false, "properties": { "dry_run": { "type": "boolean" }, "set": { "type": "object", "additionalProperties": { "type": "string" } } } })), obj.clone()) },
            "/api/v1/privacy/requests/{id}/complete": { "post": op("Close a request that ran (or found nobody) with its receipt, sealed with the audit chain's head (needs `privacy`)", "privacy", None, obj.clone()) },
            "/api/v1/privacy/requests/{id}/refuse": { "post": op("Refuse a request, for a reason the person is told (needs `privacy`)", "privacy", Some(json!({ "type": "object", "additionalProperties": false, "required": ["reason"], "properties": { "reason": { "type": "string" } } })), obj.clone()) },
            "/api/v1/privacy/requests/{id}/receipt": { "get": op("The receipt of a completed request, as a file: `format` json (default) or html", "privacy", None, obj.clone()) },
            "/api/v1/privacy/receipts/verify": { "post": op("Check a receipt (the body): its seal, its audit entry in an intact chain, and the request on record (needs `audit`)", "privacy", Some(obj.clone()), obj.clone()) },
            "/api/v1/privacy/locate": { "get": op("Where a person still appears: `customer` or `email`, `bytes=true` for the byte scan of the database files; every table and column by its place in the personal-data inventory, undeclared places, and tables PostgreSQL has yet to rewrite (needs `privacy`)", "privacy", None, obj.clone()) },
            "/healthz": { "get": { "summary": "The process is up (no credentials)", "tags": ["operations"], "security": [], "responses": { "200": { "description": "up" } } } },
            "/readyz": { "get": { "summary": "The database answers and its tables are current (no credentials)", "tags": ["operations"], "security": [], "responses": { "200": { "description": "ready" }, "503": { "$ref": "#/components/responses/Error" } } } }
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE }
            },
            "responses": {
                "Error": { "description": "An error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            },
            "schemas": {
                "Error": { "type": "object", "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": { "code": { "type": "string" }, "message": { "type": "string" }, "details": {} } } } },
                "DeactivateBody": body(&["customers"], json!({
                    "customers": ids,
                    "reason": { "type": "string", "description": "one of the model's reasons for the customers' kind" },
                    "reasons": { "type": "object", "additionalProperties": { "type": "string" }, "description": "a reason per customer kind (kind → reason), for a selection of kinds with different reason lists; other kinds take `reason`" },
                    "open_activities": { "type": "string", "enum": ["complete", "remove"] } })),
                "CustomersBody": body(&["customers"], json!({ "customers": ids })),
                "DeleteBody": body(&["customers"], json!({
                    "customers": ids,
                    "move_to": { "type": "integer", "description": "move the one customer's records here first" },
                    "reason": { "type": "string", "description": "the deactivation reason, when the move has to deactivate instead" } })),
                "PurgeBody": body(&[], json!({})),
                "TransferBody": body(&["from", "to"], json!({
                    "from": { "type": "integer" }, "to": { "type": "integer" },
                    "kinds": { "type": "array", "items": { "type": "string" } } })),
                "MergeBody": body(&["into"], json!({
                    "duplicate": { "type": "integer" },
                    "duplicates": { "type": "array", "items": { "type": "integer" } },
                    "into": { "type": "integer" },
                    "take": { "type": "object", "additionalProperties": { "type": "integer" }, "description": "field → the customer whose value stays" } })),
                "RecordDeleteBody": body(&[], json!({
                    "ids": { "type": "array", "items": { "type": "integer" } },
                    "owner": { "type": "integer", "description": "every record under this owner" },
                    "from": { "type": "string", "description": "with owner: from this value of the ordering field" } })),
                "Job": { "type": "object", "required": ["id", "operation", "status", "actor", "created_at", "progress"], "properties": {
                    "id": { "type": "integer" },
                    "operation": { "type": "string", "enum": crate::lifecycle::Command::NAMES },
                    "status": { "type": "string", "enum": JobStatus::ALL.map(|j| j.name()) },
                    "actor": { "type": "string" },
                    "created_at": { "type": "string" }, "started_at": { "type": ["string", "null"] }, "finished_at": { "type": ["string", "null"] },
                    "phase": { "type": ["string", "null"], "description": "candidates, blockers, orphan_fixpoint, effects, audit or commit; queued: what it waits for" },
                    "progress": { "type": "object", "properties": { "done": { "type": "integer" }, "total": { "type": "integer", "description": "0 when the phase has no count known in advance" } } },
                    "request": { "type": "object", "description": "the body it runs" },
                    "plan": { "description": "the operation's plan once it finished: the synchronous call's answer" },
                    "error": { "description": "when it failed, was cancelled or interrupted: status, code, message, details" },
                    "cancel_requested": { "type": "boolean" } } },
                "Plan": { "type": "object", "required": ["operation", "dry_run", "candidates", "blocked", "skipped", "blocked_by_rule", "effects", "customers"], "properties": {
                    "operation": { "type": "string" }, "dry_run": { "type": "boolean" },
                    "candidates": { "type": "integer" }, "blocked": { "type": "integer" }, "skipped": { "type": "integer" },
                    "blocked_by_rule": { "type": "object", "additionalProperties": { "type": "integer" } },
                    "effects": { "type": "object" },
                    "customers": { "type": "array", "items": { "type": "object", "properties": {
                        "id": { "type": "integer" }, "number": { "type": "string" }, "name": { "type": "string" },
                        "outcome": { "type": "string", "enum": ["proceeds", "blocked", "skipped", "deactivated"] },
                        "why": { "type": "string" },
                        "blockers": { "type": "array", "items": { "type": "object", "properties": {
                            "rule": { "type": "string" }, "message": { "type": "string" }, "count": { "type": "integer" },
                            "amount": { "type": "integer" }, "ids": { "type": "array", "items": { "type": "integer" } } } } } } } } },
                    "additionalProperties": { "type": "integer", "description": "the count named after the operation: deactivated, purged, ..." } }
            }
        }
    })
}
