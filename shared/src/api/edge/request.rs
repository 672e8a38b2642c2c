//! The typed requests of the routes: each is parsed once, at the edge, and either
//! holds only valid values or names every bad field.

use serde_json::Value;

use super::body::JsonBody;
use super::field_error::FieldError;
#[cfg(all(feature = "sealing", feature = "keytest"))]
use crate::domain::ApiKey;
use crate::domain::{check_number_text, Settings};
#[cfg(all(feature = "sealing", feature = "keytest"))]
use crate::keytest::{Endpoint, KeyTester};
use crate::provider::ProviderId;
#[cfg(all(feature = "sealing", feature = "keytest"))]
use crate::provider::{EndpointKind, KeyRequirement};

/// A field's value, or the errors that name it.
type Checked<T> = Result<T, Vec<FieldError>>;

#[cfg(all(feature = "sealing", feature = "keytest"))]
/// POST /api/provider-configs `{provider, apiKey, endpoint?, settings?, validate?}`.
#[derive(Debug)]
pub struct StoreRequest {
    /// The provider.
    pub provider: ProviderId,
    /// The key to seal; `None` only for a provider whose key is optional.
    pub api_key: Option<ApiKey>,
    /// The endpoint that belongs to the key (checked in form; where it leads is
    /// checked by the route before anything is written).
    pub endpoint: Option<Endpoint>,
    /// New settings; `None` when the body has none.
    pub settings: Option<Settings>,
    /// `validate: true`: the provider must accept the key before it is stored.
    pub validate: bool,
    /// When the key stops being handed out (a future time, as stored); `None`:
    /// never (absent or null: a store replaces the key, and with it its expiry).
    pub expires_at: Option<String>,
}

// Only the routes that seal or test a key read these bodies.
#[cfg(all(feature = "sealing", feature = "keytest"))]
impl StoreRequest {
    /// Reads a store body; `tester` holds the deployment's endpoint policy.
    pub(crate) fn parse(body: &JsonBody, tester: &KeyTester) -> Checked<Self> {
        let provider = provider(body);
        let api_key = match &provider {
            Ok(p) if p.entry().key == KeyRequirement::Optional && body.get("apiKey").is_none() => {
                Ok(None)
            }
            _ => api_key(body).map(Some),
        };
        let endpoint = match &provider {
            Ok(p) => endpoint(body, *p, tester, true),
            Err(_) => Ok(None),
        };
        match (
            provider,
            api_key,
            endpoint,
            settings(body),
            flag(body, "validate"),
            expires_at(body),
        ) {
            (
                Ok(provider),
                Ok(api_key),
                Ok(endpoint),
                Ok(settings),
                Ok(validate),
                Ok(expires_at),
            ) => Ok(Self {
                provider,
                api_key,
                endpoint,
                settings,
                validate,
                expires_at,
            }),
            (provider, api_key, endpoint, settings, validate, expires_at) => Err(collect([
                provider.err(),
                api_key.err(),
                endpoint.err(),
                settings.err(),
                validate.err(),
                expires_at.err(),
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

#[cfg(all(feature = "sealing", feature = "keytest"))]
/// POST /api/test-api-key `{provider, apiKey?, endpoint?}`.
#[derive(Debug)]
pub struct TestKeyRequest {
    /// The provider.
    pub provider: ProviderId,
    /// Which key to test.
    pub key: KeyToTest,
    /// The endpoint to test a given key at; the stored key is always tested at
    /// its stored endpoint.
    pub endpoint: Option<Endpoint>,
    /// Which stored key (without `apiKey`): `None` is the primary.
    pub key_id: Option<String>,
}

#[cfg(all(feature = "sealing", feature = "keytest"))]
/// The key a test is about.
#[derive(Debug)]
pub enum KeyToTest {
    /// No `apiKey` in the body: the user's stored key.
    Stored,
    /// The key of the body.
    Given(ApiKey),
    /// No key at all, at the body's endpoint: a provider whose key is optional.
    Keyless,
    /// A key that fails the basic rules: answered `format_invalid` without a call,
    /// with the reason (which never quotes the key).
    BadlyShaped(String),
}

#[cfg(all(feature = "sealing", feature = "keytest"))]
impl TestKeyRequest {
    /// Reads a key test body; `tester` holds the deployment's endpoint policy.
    ///
    /// Without `apiKey` the stored key is tested at its stored endpoint, and an
    /// `endpoint` in the body is refused: it could send the stored key to a server
    /// of the caller's choosing. A provider whose key is optional is the exception:
    /// no key and an endpoint test that server without a key.
    pub(crate) fn parse(body: &JsonBody, tester: &KeyTester) -> Checked<Self> {
        let provider = provider(body);
        let given = body.get("apiKey").is_some();
        let endpoint = match &provider {
            Ok(p)
                if !given
                    && body.get("endpoint").is_some()
                    && p.entry().key == KeyRequirement::Required =>
            {
                Err(refuse(
                    "endpoint",
                    "is taken from the stored key; give apiKey to test a key at another endpoint",
                ))
            }
            Ok(p) => endpoint(body, *p, tester, given),
            Err(_) => Ok(None),
        };
        let key = match body.get("apiKey") {
            None if endpoint.as_ref().is_ok_and(Option::is_some) => Ok(KeyToTest::Keyless),
            None => Ok(KeyToTest::Stored),
            Some(Value::String(raw)) => {
                Ok(ApiKey::parse(raw).map_or_else(KeyToTest::BadlyShaped, KeyToTest::Given))
            }
            Some(_) => Err(refuse("apiKey", "must be a string")),
        };
        let key_id = match body.get("keyId") {
            None => Ok(None),
            Some(_) if given => Err(refuse(
                "keyId",
                "names a stored key; leave apiKey out to test it",
            )),
            Some(Value::String(id)) if super::router::is_key_id(id) => Ok(Some(id.clone())),
            Some(_) => Err(refuse(
                "keyId",
                "must be the id of one of the provider's keys",
            )),
        };
        match (provider, key, endpoint, key_id) {
            (Ok(provider), Ok(key), Ok(endpoint), Ok(key_id)) => Ok(Self {
                provider,
                key,
                endpoint,
                key_id,
            }),
            (provider, key, endpoint, key_id) => Err(collect([
                provider.err(),
                key.err(),
                endpoint.err(),
                key_id.err(),
            ])),
        }
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

#[cfg(all(feature = "sealing", feature = "keytest"))]
/// The `endpoint` object, in form and under the deployment's policy. With
/// `required`, a provider that needs an endpoint the operator did not configure
/// must be given one.
fn endpoint(
    body: &JsonBody,
    provider: ProviderId,
    tester: &KeyTester,
    required: bool,
) -> Checked<Option<Endpoint>> {
    match body.get("endpoint") {
        None if required
            && provider.entry().endpoint != EndpointKind::None
            && tester.settings().base_url(provider).is_none() =>
        {
            Err(refuse(
                "endpoint",
                &format!("is required for {}", provider.display_name()),
            ))
        }
        None => Ok(None),
        Some(value) => tester
            .parse_endpoint(provider, value)
            .map(Some)
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.message))
                    .collect()
            }),
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

/// An optional expiry: an RFC 3339 time in the future, normalised to the stored
/// form; absent or null: never.
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub(crate) fn expires_at(body: &JsonBody) -> Checked<Option<String>> {
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;
    const RULE: &str =
        "must be an RFC 3339 time in the future (e.g. 2030-01-31T00:00:00Z), or null for never";
    match body.get("expiresAt") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => match OffsetDateTime::parse(raw, &Rfc3339) {
            Ok(t) if t > OffsetDateTime::now_utc() => Ok(Some(crate::domain::timestamp(t))),
            _ => Err(refuse("expiresAt", RULE)),
        },
        Some(_) => Err(refuse("expiresAt", RULE)),
    }
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
