//! The shape of one field-level validation error, as the `details` of a 400.

use std::borrow::Cow;

use serde::Serialize;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, as named in the request body, or the path of a value inside one
    /// (`settings.a[2].b`).
    pub field: Cow<'static, str>,
    /// What is wrong with it; never quotes a key.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
