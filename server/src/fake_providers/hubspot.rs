//! HubSpot's contacts as the CRM v3 API documents them, kept in memory so the fake answers
//! each call from what earlier calls did: contact properties (`GET`/`POST
//! /crm/v3/properties/contacts`), and batch create, update and upsert of contacts with their
//! rules — at most 100 inputs, no repeated id, `idProperty` only a unique property (or
//! `email`), unknown properties and malformed e-mails refused, one contact per e-mail and per
//! unique value — and batch read by id or unique property (207 naming the ids not found). A
//! batch is validated as a whole (400, 404 for an unknown id, 409 for a conflict, and nothing is
//! written), except a create whose every input carries its own `objectWriteTraceId`: HubSpot
//! documents multi-status for batch create only, and that one answers record by record, 207
//! when some were refused, each result and error naming its trace id.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Properties every HubSpot account has (the ones the app writes, and HubSpot's own).
const BUILT_IN: [&str; 6] = [
    "firstname",
    "lastname",
    "email",
    "phone",
    "hs_object_id",
    "lastmodifieddate",
];

#[derive(Debug, Clone)]
struct Contact {
    id: String,
    properties: Map<String, Value>,
}

/// The contacts and custom properties of one fake HubSpot account.
#[derive(Debug, Clone, Default)]
pub struct Crm {
    contacts: Vec<Contact>,
    /// Custom properties by name: whether each has `hasUniqueValue`.
    custom: BTreeMap<String, bool>,
    next_id: u64,
}

/// A refusal: status and HubSpot's error body.
type Refusal = (u16, Value);

fn error(status: u16, category: &str, message: &str) -> Refusal {
    (
        status,
        json!({ "status": "error", "message": message, "category": category,
                "correlationId": "00000000-0000-4000-8000-000000000000" }),
    )
}

impl Crm {
    /// Answers a request under `/crm/v3/`; `None` for a path HubSpot does not have.
    pub fn answer(&mut self, method: &str, path: &str, request: &Value) -> Option<(u16, Value)> {
        let path = path.strip_prefix("/crm/v3/")?;
        if let Some(name) = path.strip_prefix("properties/contacts/") {
            return (method == "GET").then(|| self.property(name));
        }
        if path == "properties/contacts" && method == "POST" {
            return Some(self.create_property(request));
        }
        let kind = path.strip_prefix("objects/contacts/batch/")?;
        if method != "POST" || !["create", "update", "upsert", "read"].contains(&kind) {
            return None;
        }
        if kind == "read" {
            return Some(self.read(request));
        }
        Some(self.batch(kind, request).unwrap_or_else(|refusal| refusal))
    }

    /// A contact typed in HubSpot by someone (tests): its id.
    pub fn add_contact(&mut self, properties: Value) -> String {
        let id = self.new_id();
        let mut contact = Contact {
            id: id.clone(),
            properties: Map::new(),
        };
        if let Value::Object(properties) = properties {
            contact.properties.extend(properties);
        }
        contact
            .properties
            .insert("hs_object_id".into(), json!(id.clone()));
        self.contacts.push(contact);
        id
    }

    /// Every contact, as `{"id", "properties"}`.
    pub fn contacts(&self) -> Vec<Value> {
        self.contacts
            .iter()
            .map(|c| json!({ "id": c.id, "properties": c.properties }))
            .collect()
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        (95_310_000_000 + self.next_id).to_string()
    }

    fn property(&self, name: &str) -> Refusal {
        let unique = match self.custom.get(name) {
            Some(unique) => *unique,
            None if BUILT_IN.contains(&name) => false,
            None => {
                return error(
                    404,
                    "OBJECT_NOT_FOUND",
                    &format!("Unable to find property {name} for object type 0-1"),
                )
            }
        };
        (
            200,
            json!({ "name": name, "label": name, "type": "string", "fieldType": "text",
                    "groupName": "contactinformation", "hasUniqueValue": unique,
                    "hubspotDefined": BUILT_IN.contains(&name) }),
        )
    }

    fn create_property(&mut self, request: &Value) -> Refusal {
        for field in ["name", "label", "type", "fieldType", "groupName"] {
            if request[field].as_str().is_none_or(str::is_empty) {
                return error(
                    400,
                    "VALIDATION_ERROR",
                    &format!("Property is missing required field {field}"),
                );
            }
        }
        let name = request["name"].as_str().unwrap_or_default();
        if BUILT_IN.contains(&name) || self.custom.contains_key(name) {
            return error(
                409,
                "OBJECT_ALREADY_EXISTS",
                &format!("Property named '{name}' already exists."),
            );
        }
        let unique = request["hasUniqueValue"].as_bool().unwrap_or(false);
        self.custom.insert(name.to_string(), unique);
        let mut created = request.clone();
        created["hasUniqueValue"] = json!(unique);
        (201, created)
    }

    fn is_unique(&self, name: &str) -> bool {
        name == "email" || self.custom.get(name) == Some(&true)
    }

    /// `batch/read`: the contacts with these ids (or values of a unique `idProperty`), with the
    /// `properties` asked for; 207 with an error listing the ids it does not have.
    fn read(&self, request: &Value) -> Refusal {
        let id_property = request["idProperty"].as_str();
        if id_property.is_some_and(|p| !self.is_unique(p)) {
            return error(
                400,
                "VALIDATION_ERROR",
                "idProperty must be a unique property of object type 0-1",
            );
        }
        let Some(inputs) = request["inputs"].as_array() else {
            return error(
                400,
                "VALIDATION_ERROR",
                "Invalid input JSON: inputs is required",
            );
        };
        if inputs.len() > 100 {
            return error(
                400,
                "VALIDATION_ERROR",
                "Batch input size must be at most 100.",
            );
        }
        let wanted: Vec<&str> = request["properties"]
            .as_array()
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut results = Vec::new();
        let mut missing = Vec::new();
        for input in inputs {
            let id = input["id"].as_str().unwrap_or_default();
            let found = match id_property {
                Some(property) => self.find(property, id),
                None => self.contacts.iter().position(|c| c.id == id),
            };
            match found {
                Some(index) => {
                    let contact = &self.contacts[index];
                    let mut properties = Map::new();
                    for name in wanted.iter().chain(["hs_object_id"].iter()) {
                        if let Some(value) = contact.properties.get(*name) {
                            properties.insert(name.to_string(), value.clone());
                        }
                    }
                    results.push(json!({ "id": contact.id, "properties": properties,
                                         "createdAt": "2026-01-01T00:00:00Z",
                                         "updatedAt": "2026-01-01T00:00:00Z", "archived": false }));
                }
                None => missing.push(id.to_string()),
            }
        }
        let mut answer = json!({ "status": "COMPLETE", "results": results,
                                 "startedAt": "2026-01-01T00:00:00Z",
                                 "completedAt": "2026-01-01T00:00:01Z" });
        if missing.is_empty() {
            return (200, answer);
        }
        answer["numErrors"] = json!(1);
        answer["errors"] = json!([{ "status": "error", "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
            "context": { "ids": missing } }]);
        (207, answer)
    }

    fn batch(&mut self, kind: &str, request: &Value) -> Result<(u16, Value), Refusal> {
        let inputs = request["inputs"].as_array().ok_or_else(|| {
            error(
                400,
                "VALIDATION_ERROR",
                "Invalid input JSON: inputs is required",
            )
        })?;
        if inputs.len() > 100 {
            return Err(error(
                400,
                "VALIDATION_ERROR",
                "Batch input size must be at most 100.",
            ));
        }
        let repeated = |field: &str| {
            let mut seen: Vec<&str> = inputs.iter().filter_map(|i| i[field].as_str()).collect();
            let before = seen.len();
            seen.sort_unstable();
            seen.dedup();
            seen.len() < before
        };
        if repeated("id") {
            return Err(error(
                400,
                "VALIDATION_ERROR",
                "Duplicate IDs found in batch input.",
            ));
        }
        if repeated("objectWriteTraceId") {
            return Err(error(
                400,
                "VALIDATION_ERROR",
                "Duplicate objectWriteTraceId found in batch input.",
            ));
        }
        // Record by record only for creates that name every input.
        let per_record = kind == "create"
            && inputs.iter().all(|i| {
                i["objectWriteTraceId"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
            });
        let mut after = self.clone();
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for input in inputs {
            match after.write(kind, input) {
                Ok(mut result) => {
                    if per_record {
                        result["objectWriteTraceId"] = input["objectWriteTraceId"].clone();
                    }
                    results.push(result);
                }
                Err((status, mut body)) => {
                    if !per_record {
                        return Err((status, body));
                    }
                    body["context"] =
                        json!({ "objectWriteTraceId": [input["objectWriteTraceId"]] });
                    errors.push(body);
                }
            }
        }
        *self = after;
        let status = match (errors.is_empty(), kind) {
            (false, _) => 207,
            (true, "create") => 201,
            (true, _) => 200,
        };
        let mut answer = json!({ "status": "COMPLETE", "results": results,
                                 "startedAt": "2026-01-01T00:00:00Z",
                                 "completedAt": "2026-01-01T00:00:01Z" });
        if !errors.is_empty() {
            answer["numErrors"] = json!(errors.len());
            answer["errors"] = json!(errors);
        }
        Ok((status, answer))
    }

    /// One input of a batch, applied to this copy of the account.
    fn write(&mut self, kind: &str, input: &Value) -> Result<Value, Refusal> {
        let properties = input["properties"].as_object().cloned().unwrap_or_default();
        self.validate(&properties)?;
        let found = match kind {
            "create" => None,
            "update" => {
                let id = input["id"].as_str().unwrap_or_default();
                let found = self.contacts.iter().position(|c| c.id == id);
                if found.is_none() {
                    return Err(error(
                        404,
                        "OBJECT_NOT_FOUND",
                        &format!("Object not found. objectId are usually numeric. ({id})"),
                    ));
                }
                found
            }
            _ => {
                let id_property = input["idProperty"].as_str().unwrap_or_default();
                let id = input["id"].as_str().unwrap_or_default();
                if id.is_empty() || !self.is_unique(id_property) {
                    return Err(error(
                        400,
                        "VALIDATION_ERROR",
                        &format!(
                            "idProperty '{id_property}' is not a unique property of object type 0-1"
                        ),
                    ));
                }
                self.find(id_property, id)
            }
        };
        let mut properties = properties;
        if kind == "upsert" && found.is_none() {
            let id_property = input["idProperty"].as_str().unwrap_or_default();
            properties.insert(id_property.to_string(), input["id"].clone());
        }
        let index = match found {
            Some(index) => index,
            None => {
                self.add_contact(json!({}));
                self.contacts.len() - 1
            }
        };
        let id = self.contacts[index].id.clone();
        for (name, value) in &properties {
            if self.is_unique(name) {
                if let Some(other) = self.find(name, value.as_str().unwrap_or_default()) {
                    if other != index {
                        let message = if name == "email" {
                            format!(
                                "Contact already exists. Existing ID: {}",
                                self.contacts[other].id
                            )
                        } else {
                            format!(
                                "A contact with the value '{}' for the unique property '{name}' already exists. Existing ID: {}",
                                value.as_str().unwrap_or_default(),
                                self.contacts[other].id
                            )
                        };
                        return Err(error(409, "CONFLICT", &message));
                    }
                }
            }
        }
        let mut written = properties.clone();
        self.contacts[index].properties.extend(properties);
        // HubSpot answers with what was written and its own bookkeeping, not the whole contact.
        written.insert("hs_object_id".into(), json!(id.clone()));
        written.insert("lastmodifieddate".into(), json!("2026-01-01T00:00:00Z"));
        let mut result = json!({ "id": id, "properties": written,
                                 "createdAt": "2026-01-01T00:00:00Z",
                                 "updatedAt": "2026-01-01T00:00:00Z", "archived": false });
        if kind == "upsert" {
            result["new"] = json!(found.is_none());
        }
        Ok(result)
    }

    fn find(&self, property: &str, value: &str) -> Option<usize> {
        self.contacts.iter().position(|c| {
            c.properties
                .get(property)
                .and_then(Value::as_str)
                .is_some_and(|v| {
                    if property == "email" {
                        v.eq_ignore_ascii_case(value)
                    } else {
                        v == value
                    }
                })
        })
    }

    /// HubSpot's property validation: every property must exist, values are strings, and an
    /// e-mail must look like one.
    fn validate(&self, properties: &Map<String, Value>) -> Result<(), Refusal> {
        for (name, value) in properties {
            if !BUILT_IN.contains(&name.as_str()) && !self.custom.contains_key(name) {
                return Err(error(
                    400,
                    "VALIDATION_ERROR",
                    &format!("Property values were not valid: [{{\"isValid\":false,\"message\":\"Property \\\"{name}\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"{name}\"}}]"),
                ));
            }
            let Some(text) = value.as_str() else {
                return Err(error(
                    400,
                    "VALIDATION_ERROR",
                    &format!("Property values were not valid: {name} must be a string"),
                ));
            };
            if name == "email" && !looks_like_email(text) {
                return Err(error(
                    400,
                    "VALIDATION_ERROR",
                    &format!("Property values were not valid: [{{\"isValid\":false,\"message\":\"Email address {text} is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}}]"),
                ));
            }
        }
        Ok(())
    }
}

/// One `@`, a local part, and a domain with a dot and no spaces: what HubSpot accepts.
fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !text.contains(char::is_whitespace)
        && domain
            .split_once('.')
            .is_some_and(|(host, tld)| !host.is_empty() && tld.len() >= 2 && !tld.ends_with('.'))
}
