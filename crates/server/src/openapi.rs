//! The OpenAPI 3.1 document of the JSON API, with the model's customer and record kinds.

use serde_json::{json, Value};

use offboard_model::Model;

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

fn param(name: &str, location: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": location, "required": location == "path", "schema": schema, "description": description })
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
    let plan = json!({ "$ref": "#/components/schemas/Plan" });
    let op_body = json!({ "$ref": "#/components/schemas/OperationBody" });
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
            "offset",
            "query",
            json!({ "type": "integer", "default": 0 }),
            "page start"
        ),
    ]);
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
    let mut delete_records = op(
        "Delete records, restricted along owner chains (ordered kinds newest first)",
        "records",
        Some(json!({ "type": "object", "properties": {
            "ids": { "type": "array", "items": { "type": "integer" } },
            "owner": { "type": "integer" }, "from": { "type": "string" },
            "dry_run": { "type": "boolean" } } })),
        obj.clone(),
    );
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
        param("q", "query", json!({ "type": "string" }), "what was typed"),
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
            "/api/v1/stats": { "get": op("Customers per status and records per kind", "model", None, obj.clone()) },
            "/api/v1/customers": {
                "get": list,
                "post": op("Add a customer (audited)", "customers", Some(json!({ "type": "object", "required": ["kind", "name"], "properties": { "kind": { "type": "string", "enum": model.customer.kinds }, "name": { "type": "string" }, "number": { "type": "string" }, "email": { "type": "string" }, "fields": { "type": "object" } } })), obj.clone())
            },
            "/api/v1/customers/suggest": { "get": suggest },
            "/api/v1/customers/{id}": { "get": show_customer, "patch": update_customer },
            "/api/v1/customers/{id}/records/{kind}": { "get": records },
            "/api/v1/records/{kind}": { "post": new_record },
            "/api/v1/records/{kind}/{id}": { "get": show_record, "patch": update_record },
            "/api/v1/records/{kind}/delete": { "post": delete_records },
            "/api/v1/deactivate": { "post": op("Deactivate customers (reason, open activities)", "lifecycle", Some(op_body.clone()), plan.clone()) },
            "/api/v1/reactivate": { "post": op("Reactivate customers", "lifecycle", Some(op_body.clone()), plan.clone()) },
            "/api/v1/delete": { "post": op("Delete customers (soft, inactivate or hard per the model; move_to for one)", "lifecycle", Some(op_body.clone()), plan.clone()) },
            "/api/v1/undelete": { "post": op("Bring deleted customers back", "lifecycle", Some(op_body.clone()), plan.clone()) },
            "/api/v1/purge": { "post": op("Erase the deleted customers (the cleanup)", "lifecycle", Some(json!({ "type": "object", "properties": { "dry_run": { "type": "boolean" } } })), plan.clone()) },
            "/api/v1/transfer": { "post": op("Move transferable records to another customer", "lifecycle", Some(json!({ "type": "object", "required": ["from", "to"], "properties": { "from": { "type": "integer" }, "to": { "type": "integer" }, "kinds": { "type": "array", "items": { "type": "string" } }, "dry_run": { "type": "boolean" } } })), plan.clone()) },
            "/api/v1/merge": { "post": op("Merge a duplicate into another customer", "lifecycle", Some(json!({ "type": "object", "required": ["duplicate", "into"], "properties": { "duplicate": { "type": "integer" }, "into": { "type": "integer" }, "dry_run": { "type": "boolean" } } })), plan.clone()) },
            "/api/v1/audit": { "get": audit },
            "/api/v1/audit/verify": { "get": op("Check the audit log's hash chain", "audit", None, obj.clone()) },
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
                "OperationBody": { "type": "object", "properties": {
                    "customers": { "type": "array", "items": { "type": "integer" } },
                    "reason": { "type": "string" },
                    "open_activities": { "type": "string", "enum": ["complete", "remove"] },
                    "move_to": { "type": "integer" },
                    "dry_run": { "type": "boolean" } } },
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
