//! The typed requests of the routes: each is parsed once, at the edge, and either
//! holds only valid values or names every bad field.

use lambda_http::{Request, RequestExt};
use serde_json::Value;

use super::body::JsonBody;
use super::field_error::FieldError;
use crate::domain::{check_number_text, ApiKey, Settings};
use crate::provider::ProviderId;

/// A field's value, or the errors that name it.
type Checked<T> = Result<T, Vec<FieldError>>;

/// POST /api/provider-configs `{provider, apiKey, settings?, validate?}`.
#[derive(Debug)]
pub struct StoreRequest {
    /// The provider.
    pub provider: ProviderId,
    /// The key to seal.
    pub api_key: ApiKey,
    /// New settings; `None` when the body has none.
    pub settings: Option<Settings>,
    /// `validate: true`: the provider must accept the key before it is stored.
    pub validate: bool,
}

// Only the routes that seal or test a key read these bodies.
#[cfg(all(feature = "sealing", feature = "keytest"))]
impl StoreRequest {
    /// Reads a store body.
    pub(crate) fn parse(body: &JsonBody) -> Checked<Self> {
        match (
            provider(body),
            api_key(body),
            settings(body),
            flag(body, "validate"),
        ) {
            (Ok(provider), Ok(api_key), Ok(settings), Ok(validate)) => Ok(Self {
                provider,
                api_key,
                settings,
                validate,
            }),
            (provider, api_key, settings, validate) => Err(collect([
                provider.err(),
                api_key.err(),
                settings.err(),
                validate.err(),
            ])),
        }
    }
}

/// PUT /api/provider-configs `{provider, settings}`.
#[derive(Debug)]
pub struct UpdateSettingsRequest {
    /// The provider.
    pub provider: ProviderId,
    /// The settings that replace the stored ones.
    pub settings: Settings,
}

impl UpdateSettingsRequest {
    /// Reads an update body.
    pub(crate) fn parse(body: &JsonBody) -> Checked<Self> {
        let settings =
            settings(body).and_then(|s| s.ok_or_else(|| refuse("settings", "is required")));
        match (provider(body), settings) {
            (Ok(provider), Ok(settings)) => Ok(Self { provider, settings }),
            (provider, settings) => Err(collect([provider.err(), settings.err()])),
        }
    }
}

/// POST /api/test-api-key `{provider, apiKey?}`.
#[derive(Debug)]
pub struct TestKeyRequest {
    /// The provider.
    pub provider: ProviderId,
    /// Which key to test.
    pub key: KeyToTest,
}

/// The key a test is about.
#[derive(Debug)]
pub enum KeyToTest {
    /// No `apiKey` in the body: the user's stored key.
    Stored,
    /// The key of the body.
    Given(ApiKey),
    /// A key that fails the basic rules: answered `format_invalid` without a call,
    /// with the reason (which never quotes the key).
    BadlyShaped(String),
}

#[cfg(all(feature = "sealing", feature = "keytest"))]
impl TestKeyRequest {
    /// Reads a key test body.
    pub(crate) fn parse(body: &JsonBody) -> Checked<Self> {
        let key = match body.get("apiKey") {
            None => Ok(KeyToTest::Stored),
            Some(Value::String(raw)) => {
                Ok(ApiKey::parse(raw).map_or_else(KeyToTest::BadlyShaped, KeyToTest::Given))
            }
            Some(_) => Err(refuse("apiKey", "must be a string")),
        };
        match (provider(body), key) {
            (Ok(provider), Ok(key)) => Ok(Self { provider, key }),
            (provider, key) => Err(collect([provider.err(), key.err()])),
        }
    }
}

/// DELETE /api/provider-configs/{provider}.
#[derive(Debug)]
pub struct DeleteConfigRequest {
    /// The provider.
    pub provider: ProviderId,
}

impl DeleteConfigRequest {
    /// Reads the `{provider}` path parameter, or the last path segment where no API
    /// Gateway route set one (a Lambda function URL, `cargo lambda watch`).
    pub fn parse(req: &Request) -> Checked<Self> {
        let raw = req
            .path_parameters_ref()
            .and_then(|p| p.first("provider"))
            .map(str::to_owned)
            .or_else(|| {
                let path = req.uri().path();
                let (_, rest) = path.split_once("/provider-configs/")?;
                let segment = rest.trim_end_matches('/');
                (!segment.is_empty() && !segment.contains('/')).then(|| segment.to_owned())
            })
            .ok_or_else(|| refuse("provider", "is required in the path"))?;
        let provider = ProviderId::parse(&raw).ok_or_else(unsupported_provider)?;
        Ok(Self { provider })
    }
}

fn refuse(field: &'static str, message: &str) -> Vec<FieldError> {
    vec![FieldError::new(field, message)]
}

fn unsupported_provider() -> Vec<FieldError> {
    vec![FieldError::new(
        "provider",
        format!(
            "unsupported provider; use one of {}",
            ProviderId::accepted_ids()
        ),
    )]
}

/// The errors of the fields that failed, in the order the fields were read.
fn collect<const N: usize>(errors: [Option<Vec<FieldError>>; N]) -> Vec<FieldError> {
    errors.into_iter().flatten().flatten().collect()
}

/// A required provider id or alias.
fn provider(body: &JsonBody) -> Checked<ProviderId> {
    match body.get("provider") {
        None => Err(refuse("provider", "is required")),
        Some(Value::String(s)) => ProviderId::parse(s).ok_or_else(unsupported_provider),
        Some(_) => Err(refuse("provider", "must be a string")),
    }
}

/// A required API key.
#[cfg(all(feature = "sealing", feature = "keytest"))]
fn api_key(body: &JsonBody) -> Checked<ApiKey> {
    match body.get("apiKey") {
        None => Err(refuse("apiKey", "is required")),
        Some(Value::String(s)) => ApiKey::parse(s).map_err(|reason| refuse("apiKey", &reason)),
        Some(_) => Err(refuse("apiKey", "must be a string")),
    }
}

/// Optional settings, with every number as sent storable in DynamoDB: parsing
/// alone would round a 40-digit integer or underflow `1e-400` to zero unseen. The
/// text is checked first, so one answer names every such number.
fn settings(body: &JsonBody) -> Checked<Option<Settings>> {
    let Some(value) = body.get("settings") else {
        return Ok(None);
    };
    let unstorable: Vec<FieldError> = body
        .numbers_in("settings")
        .into_iter()
        .filter_map(|(path, text)| {
            check_number_text(text)
                .err()
                .map(|problem| FieldError::new(path.into_string(), problem.message()))
        })
        .collect();
    if !unstorable.is_empty() {
        return Err(unstorable);
    }
    Settings::parse(value.clone())
        .map(Some)
        .map_err(|e| vec![FieldError::new(e.path, e.message)])
}

/// An optional boolean, false when absent.
#[cfg(all(feature = "sealing", feature = "keytest"))]
fn flag(body: &JsonBody, field: &'static str) -> Checked<bool> {
    match body.get(field) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(refuse(field, "must be true or false")),
    }
}
