//! Reading a request body: its size, its JSON, and the shape of field errors.

use lambda_http::{Body, Request};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::ApiError;

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

/// A body that is a JSON object within [`MAX_BODY_BYTES`].
#[derive(Debug)]
pub(crate) struct JsonBody {
    object: Map<String, Value>,
}

impl JsonBody {
    /// Reads the body of `req`. A missing `content-type` is tolerated: the bytes are
    /// parsed whatever the header says.
    pub(crate) fn read(req: &Request) -> Result<Self, ApiError> {
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
            Ok(Value::Object(object)) => Ok(Self { object }),
            Ok(_) => Err(ApiError::Invalid(vec![FieldError::new(
                "body",
                "must be a JSON object",
            )])),
            Err(_) => Err(ApiError::MalformedJson),
        }
    }

    /// The member `name`, treating JSON `null` as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }
}
