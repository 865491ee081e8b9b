//! The right of access (GDPR art. 15): everything offboard holds about one customer in one
//! document — its fields, its records of every kind (along owner chains), the customers it
//! links to and that link to it (by number: another person's name is theirs, not this
//! person's), and the audit entries about it. Handing it out is itself audited.

use serde_json::{json, Map, Value};

use offboard_model::model::Operation;

use crate::{Engine, EngineError};

impl Engine<'_> {
    /// The access document of customer `id` (permission `export`). One query per record kind
    /// and per link, whatever the number of records.
    pub fn access_document(&mut self, id: i64) -> Result<Value, EngineError> {
        let allowed = self.allow(Operation::Export)?;
        self.access_document_as(&allowed, id)
    }

    /// [`Engine::access_document`] on a proof already taken (a privacy request's run).
    pub(crate) fn access_document_as(
        &mut self,
        allowed: &crate::Allowed,
        id: i64,
    ) -> Result<Value, EngineError> {
        let doc = self.access_document_unaudited(allowed, id)?;
        // Who handed it out, and when: an entry of its own (after the document was read).
        let actor = self.actor.name.clone();
        let number = doc["customer"]["number"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = doc["customer"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.store.atomically(|s| {
            crate::audit::append(
                s.db(),
                &actor,
                crate::audit::Act::Access,
                &[crate::audit::NewEntry::customer(
                    id,
                    &number,
                    &name,
                    None,
                    json!({ "exported": "everything held about the customer" }),
                )],
            )
        })?;
        Ok(doc)
    }

    /// The document, not yet handed out (a privacy request's dry run reads it).
    pub(crate) fn access_document_unaudited(
        &mut self,
        _allowed: &crate::Allowed,
        id: i64,
    ) -> Result<Value, EngineError> {
        let model = self.store.shared_model();
        let customer = self.store.customer(id)?;
        let mut records = Map::new();
        for kind in &model.records {
            let mut list = Vec::new();
            self.store
                .customer_records(&kind.name, id, None, &mut |r| {
                    list.push(serde_json::to_value(&r).unwrap_or(Value::Null));
                    Ok(())
                })?;
            if !list.is_empty() {
                records.insert(kind.name.clone(), Value::Array(list));
            }
        }
        // The customers it links to (its company, who it is billed to), by number.
        let mut links_to = Map::new();
        for l in &model.customer.links {
            if let Some(other) = customer.fields.get(&l.link.column).and_then(Value::as_i64) {
                if let Some(o) = self.store.find_customer(other)? {
                    links_to.insert(
                        l.link.name.clone(),
                        json!({ "id": o.id, "number": o.number, "kind": o.kind }),
                    );
                }
            }
        }
        // The customers that link to it (a company's contact persons), every one.
        let mut linked_from = Map::new();
        for (link, list, _) in self.store.linked_customers(id, u64::MAX >> 1)? {
            linked_from.insert(
                link,
                Value::Array(
                    list.iter()
                        .map(|o| json!({ "id": o.id, "number": o.number, "kind": o.kind }))
                        .collect(),
                ),
            );
        }
        let audit = crate::audit::list(self.store.db(), Some(id), None)?;
        Ok(json!({
            "generated_at": offboard_model::DateTime::now().to_string(),
            "model": model.name,
            "customer": customer,
            "personal_fields": model
                .personal_columns()
                .into_iter()
                .map(|p| format!("{}.{}", p.table, p.column))
                .collect::<Vec<_>>(),
            "records": records,
            "links_to": links_to,
            "linked_from": linked_from,
            "audit": audit,
        }))
    }
}
