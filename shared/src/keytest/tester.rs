//! The key tester: the shape check, the guard for user-given endpoints, and the
//! check call with its retry loop inside one time budget.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::endpoint::{Endpoint, EndpointFieldError};
use super::outcome::{KeyStatus, KeyTestResult, Outcome};
use super::request::{check_request, check_url};
use super::retry::{attempts, timeout_outcome};
use super::scrub::scrub;
use super::settings::KeyTestSettings;
use super::ssrf::{self, GuardError, HostResolver, SystemResolver};
use super::{EndpointError, DEFAULT_AZURE_API_VERSION};
use crate::provider::{EndpointKind, KeyFit, KeyRequirement, ProviderId};

/// Runs key tests. The HTTP client is built on first use and kept for the process;
/// calls to user-given endpoints get a client pinned to the checked addresses.
#[derive(Debug)]
pub struct KeyTester {
    settings: KeyTestSettings,
    resolver: Arc<dyn HostResolver>,
    client: OnceLock<reqwest::Client>,
}

/// Where a check goes.
struct Target {
    base: String,
    api_version: Option<String>,
    /// The user's endpoint, which the guard must clear first.
    user: Option<&'static str>,
}

impl KeyTester {
    /// A tester with these settings, resolving names through the system.
    pub fn new(settings: KeyTestSettings) -> Self {
        Self::with_resolver(settings, Arc::new(SystemResolver))
    }

    /// A tester that resolves user-given host names through `resolver`.
    pub fn with_resolver(settings: KeyTestSettings, resolver: Arc<dyn HostResolver>) -> Self {
        Self {
            settings,
            resolver,
            client: OnceLock::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &KeyTestSettings {
        &self.settings
    }

    /// Parses a user's `endpoint` object for `provider` under this deployment's
    /// policy (loopback endpoints only when the operator allows them).
    pub fn parse_endpoint(
        &self,
        provider: ProviderId,
        value: &Value,
    ) -> Result<Endpoint, Vec<EndpointFieldError>> {
        Endpoint::parse(provider, value, self.settings.allow_loopback_endpoints)
    }

    /// Resolves and checks where a user-given endpoint leads, as a key test would,
    /// without connecting: for a store that keeps the endpoint. A name that does not
    /// resolve, or an address the guard refuses, is an [`EndpointError`] naming the
    /// field; a resolver that does not answer in time lets it pass.
    pub async fn guard_endpoint(
        &self,
        provider: ProviderId,
        endpoint: &Endpoint,
    ) -> Result<(), EndpointError> {
        self.checked_addresses(provider, endpoint).await.map(|_| ())
    }

    /// Where a user-given endpoint leads now, under today's policy: the addresses
    /// the guard checked (empty when the resolver did not answer in time), or an
    /// [`EndpointError`] naming the field. What use-key answers with a stored
    /// endpoint, so the app's servers connect to the checked addresses only.
    pub async fn checked_addresses(
        &self,
        provider: ProviderId,
        endpoint: &Endpoint,
    ) -> Result<Vec<std::net::SocketAddr>, EndpointError> {
        let Ok(url) = reqwest::Url::parse(endpoint.url()) else {
            return Err(EndpointError {
                field: endpoint.url_field(),
                reason: "must be an absolute URL".into(),
            });
        };
        let checked = tokio::time::timeout(
            self.settings.total_timeout,
            ssrf::check(
                &url,
                self.settings.allow_loopback_endpoints,
                &*self.resolver,
            ),
        )
        .await;
        match checked {
            // A resolver that does not answer in time says nothing of the name.
            Err(_) => Ok(Vec::new()),
            Ok(Ok(target)) => Ok(target.addrs().to_vec()),
            // A name that resolves nowhere now could resolve anywhere later (inside
            // the network): refused where it is stored, as where it is used.
            Ok(Err(GuardError::Unresolvable)) => Err(EndpointError {
                field: endpoint.url_field(),
                reason: "does not resolve: give a host name that resolves to a public address"
                    .into(),
            }),
            Ok(Err(refused)) => Err(refusal(provider, endpoint.url_field(), &refused)),
        }
    }

    /// A client that reaches a user-given endpoint only at the addresses the guard
    /// checks now (the proxy's calls to OpenAI-compatible servers and Azure
    /// resources): `builder` with its resolver pinned to them.
    pub async fn pinned_client(
        &self,
        provider: ProviderId,
        endpoint: &Endpoint,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::Client, EndpointError> {
        let field = endpoint.url_field();
        let Ok(url) = reqwest::Url::parse(endpoint.url()) else {
            return Err(EndpointError {
                field,
                reason: "must be an absolute URL".into(),
            });
        };
        let checked = tokio::time::timeout(
            self.settings.total_timeout,
            ssrf::check(
                &url,
                self.settings.allow_loopback_endpoints,
                &*self.resolver,
            ),
        )
        .await;
        let target = match checked {
            Err(_) | Ok(Err(GuardError::Unresolvable)) => {
                return Err(EndpointError {
                    field,
                    reason: "does not resolve now".into(),
                })
            }
            Ok(Err(refused)) => return Err(refusal(provider, field, &refused)),
            Ok(Ok(target)) => target,
        };
        ssrf::pinned_client(builder, target).map_err(|_| EndpointError {
            field,
            reason: "could not be called".into(),
        })
    }

    fn builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .connect_timeout(self.settings.connect_timeout)
            .timeout(self.settings.total_timeout)
            // A redirect could carry a custom auth header to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("apikeys-key-test/", env!("CARGO_PKG_VERSION")))
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            self.builder()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }

    /// Tests `key` against `provider` at its configured base URL. Never fails:
    /// every outcome is a status.
    pub async fn test(&self, provider: ProviderId, key: &SecretString) -> KeyTestResult {
        match self.test_with(provider, Some(key), None).await {
            Ok(result) => result,
            Err(missing) => KeyTestResult::new(
                provider,
                Outcome::new(
                    KeyStatus::ProviderError,
                    format!(
                        "The key could not be checked: {} {}.",
                        missing.field, missing.reason
                    ),
                ),
                0,
            ),
        }
    }

    /// Tests `key` (optional where the provider allows it) against `provider`, at
    /// the user's `endpoint` when given. A user-given endpoint is resolved and
    /// checked first; one that leads to a refused address, or a missing endpoint
    /// the provider needs, is an [`EndpointError`] naming the field, decided before
    /// any connection. Every other outcome is a status.
    pub async fn test_with(
        &self,
        provider: ProviderId,
        key: Option<&SecretString>,
        endpoint: Option<&Endpoint>,
    ) -> Result<KeyTestResult, EndpointError> {
        let started = Instant::now();
        let key = key.map(|k| k.expose_secret());
        let mut warnings = Vec::new();
        if let Some(refusal) = self.shape(provider, key, &mut warnings) {
            return Ok(self.finish(provider, refusal, started, key, warnings));
        }
        let target = self.target(provider, endpoint)?;
        let deadline = started + self.settings.total_timeout;
        let outcome = self.call(provider, key, &target, deadline).await?;
        Ok(self.finish(provider, outcome, started, key, warnings))
    }

    /// The result of a key that never reached the provider because its shape is wrong.
    pub fn format_invalid(provider: ProviderId, reason: &str) -> KeyTestResult {
        KeyTestResult::new(
            provider,
            Outcome::new(
                KeyStatus::FormatInvalid,
                format!(
                    "This is not a valid {} key: it {reason}.",
                    provider.display_name()
                ),
            ),
            0,
        )
    }

    /// A refusal when the key's shape rules out the provider; warnings otherwise.
    fn shape(
        &self,
        provider: ProviderId,
        key: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Option<Outcome> {
        let name = provider.display_name();
        let a = provider.article();
        let Some(key) = key else {
            return (provider.entry().key == KeyRequirement::Required).then(|| {
                Outcome::new(
                    KeyStatus::FormatInvalid,
                    format!("A key is needed to test {a} {name} key."),
                )
            });
        };
        let looks_like = |other: Option<ProviderId>| match other {
            Some(o) => format!(
                "This does not look like {a} {name} key; it looks like {} {} key.",
                o.article(),
                o.display_name()
            ),
            None => format!("This does not look like {a} {name} key."),
        };
        match provider.inspect_key(key) {
            KeyFit::Fits => None,
            KeyFit::Unusual(warning) => {
                warnings.push(warning);
                None
            }
            KeyFit::OtherProvider(other) => Some(Outcome::new(
                KeyStatus::FormatInvalid,
                looks_like(Some(other)),
            )),
            KeyFit::WrongPrefix => Some(Outcome::new(
                KeyStatus::FormatInvalid,
                looks_like(ProviderId::guess_from_key(key)),
            )),
        }
    }

    fn target(
        &self,
        provider: ProviderId,
        endpoint: Option<&Endpoint>,
    ) -> Result<Target, EndpointError> {
        let kind = provider.entry().endpoint;
        let configured = self.settings.base_url(provider).map(str::to_owned);
        let missing = |field: &'static str| EndpointError {
            field,
            reason: format!(
                "is needed to test {} {} key",
                provider.article(),
                provider.display_name()
            ),
        };
        match endpoint {
            Some(e) if e.kind() != kind => Err(EndpointError {
                field: "endpoint",
                reason: format!("is not used by {}", provider.display_name()),
            }),
            Some(e) => Ok(Target {
                base: e.url().to_owned(),
                api_version: e.api_version().map(str::to_owned),
                user: Some(e.url_field()),
            }),
            None => {
                let base = configured.ok_or_else(|| {
                    missing(match kind {
                        EndpointKind::Azure => "endpoint.endpoint",
                        _ => "endpoint.baseUrl",
                    })
                })?;
                let api_version =
                    (kind == EndpointKind::Azure).then(|| DEFAULT_AZURE_API_VERSION.to_owned());
                Ok(Target {
                    base,
                    api_version,
                    user: None,
                })
            }
        }
    }

    /// Guards a user-given endpoint, then runs the attempts.
    async fn call(
        &self,
        provider: ProviderId,
        key: Option<&str>,
        target: &Target,
        deadline: Instant,
    ) -> Result<Outcome, EndpointError> {
        let name = provider.display_name();
        let entry = provider.entry();
        let Some(url) = check_url(entry, &target.base, target.api_version.as_deref()) else {
            return Ok(Outcome::new(
                KeyStatus::ProviderError,
                "The check could not be sent.",
            ));
        };
        let client = match target.user {
            None => self.client().clone(),
            Some(field) => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                let checked = tokio::time::timeout(
                    remaining,
                    ssrf::check(
                        &url,
                        self.settings.allow_loopback_endpoints,
                        &*self.resolver,
                    ),
                )
                .await;
                let checked = match checked {
                    Err(_) => return Ok(timeout_outcome(&self.settings, provider)),
                    Ok(Err(GuardError::Unresolvable)) => {
                        return Ok(Outcome::new(
                            KeyStatus::Unreachable,
                            "The endpoint's host name does not resolve.",
                        ))
                    }
                    Ok(Err(refused)) => return Err(refusal(provider, field, &refused)),
                    Ok(Ok(checked)) => checked,
                };
                match ssrf::pinned_client(self.builder(), checked) {
                    Ok(client) => client,
                    Err(_) => {
                        return Ok(Outcome::new(
                            KeyStatus::ProviderError,
                            "The check could not be sent.",
                        ))
                    }
                }
            }
        };
        let Some(request) = check_request(&client, entry, url, key) else {
            return Ok(Outcome::new(
                KeyStatus::FormatInvalid,
                format!("This does not look like {} {name} key.", provider.article()),
            ));
        };
        Ok(attempts(&self.settings, provider, &client, request, deadline).await)
    }

    fn finish(
        &self,
        provider: ProviderId,
        outcome: Outcome,
        started: Instant,
        key: Option<&str>,
        warnings: Vec<String>,
    ) -> KeyTestResult {
        let message = scrub(&outcome.message, key.unwrap_or_default());
        let latency_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            event = "key_test.checked",
            provider = provider.as_str(),
            status = outcome.status.as_str(),
            warnings = warnings.len(),
            latency_ms,
        );
        let mut result = KeyTestResult::new(provider, Outcome { message, ..outcome }, latency_ms);
        result.warnings = warnings;
        result
    }
}

/// The refusal of a user-given endpoint, logged without the URL.
fn refusal(provider: ProviderId, field: &'static str, refused: &GuardError) -> EndpointError {
    let reason = match refused {
        GuardError::Refused(class) => {
            tracing::warn!(
                event = "key_test.endpoint_refused",
                provider = provider.as_str(),
                class = class.describe(),
            );
            format!("leads to {}, which key tests never call", class.describe())
        }
        _ => {
            tracing::warn!(
                event = "key_test.endpoint_refused",
                provider = provider.as_str(),
                class = "plain http beyond loopback",
            );
            "uses http, which is allowed only to loopback".to_owned()
        }
    };
    EndpointError { field, reason }
}
