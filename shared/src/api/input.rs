//! Reading request bodies: size, JSON, and field-level validation errors.

use lambda_http::{Body, Request};
use serde::Serialize;
use serde_json::{Map, Value};

use super::ApiError;
use crate::config::{ApiKey, Settings};
use crate::provider::ProviderId;

/// The largest body accepted (413 above).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, as named in the request body.
    pub field: &'static str,
    /// What is wrong with it; never quotes a key.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// The body as a JSON object. A missing `content-type` is tolerated: the bytes
/// are parsed whatever the header says.
pub(crate) fn json_object(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "body",
            "a JSON object is required",
        )]));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::Invalid(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )])),
        Err(_) => Err(ApiError::MalformedJson),
    }
}

/// Collects field errors while a body is read, so one answer names every bad field.
#[derive(Default)]
pub(crate) struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub(crate) fn fail(&mut self, field: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// A required provider id or alias.
    pub(crate) fn provider(&mut self, body: &Map<String, Value>) -> Option<ProviderId> {
        match body.get("provider") {
            None | Some(Value::Null) => {
                self.fail("provider", "is required");
                None
            }
            Some(Value::String(s)) => {
                let parsed = ProviderId::parse(s);
                if parsed.is_none() {
                    self.fail(
                        "provider",
                        format!(
                            "unsupported provider; use one of {}",
                            ProviderId::accepted_ids()
                        ),
                    );
                }
                parsed
            }
            Some(_) => {
                self.fail("provider", "must be a string");
                None
            }
        }
    }

    /// An API key: required, or optional when `required` is false.
    pub(crate) fn api_key(&mut self, body: &Map<String, Value>, required: bool) -> Option<ApiKey> {
        match body.get("apiKey") {
            None | Some(Value::Null) => {
                if required {
                    self.fail("apiKey", "is required");
                }
                None
            }
            Some(Value::String(s)) => match ApiKey::parse(s) {
                Ok(key) => Some(key),
                Err(reason) => {
                    self.fail("apiKey", reason);
                    None
                }
            },
            Some(_) => {
                self.fail("apiKey", "must be a string");
                None
            }
        }
    }

    /// Settings: `None` when absent; required when `required` is true.
    pub(crate) fn settings(
        &mut self,
        body: &Map<String, Value>,
        required: bool,
    ) -> Option<Settings> {
        match body.get("settings") {
            None | Some(Value::Null) => {
                if required {
                    self.fail("settings", "is required");
                }
                None
            }
            Some(value) => match Settings::parse(value.clone()) {
                Ok(settings) => Some(settings),
                Err(reason) => {
                    self.fail("settings", reason);
                    None
                }
            },
        }
    }

    /// An optional boolean.
    pub(crate) fn flag(&mut self, body: &Map<String, Value>, field: &'static str) -> bool {
        match body.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.fail(field, "must be true or false");
                false
            }
        }
    }

    /// Ok when no field failed.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.errors))
        }
    }
}
