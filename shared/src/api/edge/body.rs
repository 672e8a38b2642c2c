//! Reading a request body: its size and its JSON.

use lambda_http::{Body, Request};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::field_error::FieldError;
use super::json_numbers::numbers_in;
use crate::domain::JsonPath;

/// The largest body accepted (413 above).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A body that is a JSON object within [`MAX_BODY_BYTES`], with its text: parsing
/// rounds numbers to `f64`, and only the text tells how many digits were sent.
#[derive(Debug)]
pub(crate) struct JsonBody<'r> {
    object: Map<String, Value>,
    text: &'r str,
}

/// The parsed body may hold a key (`apiKey`): every string is overwritten when it
/// goes.
impl Drop for JsonBody<'_> {
    fn drop(&mut self) {
        let mut object = Value::Object(std::mem::take(&mut self.object));
        crate::wipe::wipe_value(&mut object);
    }
}

impl<'r> JsonBody<'r> {
    /// Reads the body of `req`. A missing `content-type` is tolerated: the bytes are
    /// parsed whatever the header says.
    pub(crate) fn read(req: &'r Request) -> Result<Self, ApiError> {
        let bytes: &[u8] = match req.body() {
            Body::Empty => &[],
            Body::Text(text) => text.as_bytes(),
            Body::Binary(bytes) => bytes,
            _ => &[],
        };
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "body",
                "a JSON object is required",
            )]));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ApiError::MalformedJson)?;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => Ok(Self { object, text }),
            Ok(_) => Err(ApiError::Invalid(vec![FieldError::new(
                "body",
                "must be a JSON object",
            )])),
            Err(_) => Err(ApiError::MalformedJson),
        }
    }

    /// The body with the member `name` set to `value`: what the path of a route says
    /// (`{provider}`), read by the same rules as a body member.
    #[cfg(all(feature = "sealing", feature = "keytest"))]
    pub(crate) fn with_member(mut self, name: &str, value: Value) -> Self {
        self.object.insert(name.to_owned(), value);
        self
    }

    /// Whether the body has the member `name`, `null` included (a change that sets
    /// something back to none).
    #[cfg(all(feature = "sealing", feature = "keytest"))]
    pub(crate) fn has(&self, name: &str) -> bool {
        self.object.contains_key(name)
    }

    /// The member `name`, treating JSON `null` as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }

    /// Every number under the top-level member `name`, as sent: its path and text.
    pub(crate) fn numbers_in(&self, name: &str) -> Vec<(JsonPath, &'r str)> {
        numbers_in(self.text, name)
    }
}
