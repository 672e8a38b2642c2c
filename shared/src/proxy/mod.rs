//! The streaming proxy: the user's request goes to the provider with the user's key
//! added here, inside the vault, and the answer streams back chunk by chunk as the
//! provider sends it. The app's servers never hold the key.
//!
//! - [`route`]: the provider-native paths served (`/proxy/{provider}/v1/...`), and
//!   nothing else.
//! - [`headers`]: what crosses in headers, both ways.
//! - [`relay`](mod@relay): the answer's body: streamed, metered for usage, ended by
//!   an idle timeout, and the call's spending written once at its end.
//! - [`meter`]: usage read from the provider's own usage fields.
//!
//! One call: the route, the body's size, the caller's token (the user's own JWT of
//! the configured issuer, where the provider key would go: `Authorization: Bearer`,
//! `x-api-key` or `x-goog-api-key`), then the user's keys in use-key's order. A
//! 401, 402, 403 or 429 before the first byte marks that key as a report would
//! (rate-limited until its `Retry-After`) and moves to the next; once the answer has
//! begun nothing is retried. Every answer carries a receipt: `x-apikeys-key-id`,
//! `x-apikeys-key-hint`, `x-apikeys-attempts` (each key skipped, `id:reason`,
//! comma-separated) and `x-apikeys-key-source` (`user`).

pub use crate::deployment;
mod answers;
pub mod headers;
pub mod meter;
mod receipt;
pub mod relay;
pub mod route;
mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::api::UserId;
use crate::provider::ApiFamily;
use crate::sealing_state::SealingState;
use crate::settings::{positive, SettingsError};
use crate::usage::{use_next_key, withdraw_use, UsageError, UsedKey};
use crate::usertoken::JwtAuthorizer;
use answers::{
    classify, endpoint_refusal, family_error, json_answer, plain_error, read_capped,
    refusal_answer, scrubbed, unavailable, whole_answer,
};
pub(crate) use receipt::{Attempt, CallInfo, Receipt};
pub use relay::ProxyBody;
pub use route::{Operation, ProxyRoute, RouteError};

/// `APIKEYS_PROXY_IDLE_TIMEOUT_SECONDS` when unset.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// `APIKEYS_PROXY_MAX_BODY_BYTES` when unset: 4 MiB (a function URL takes 6 MB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Keys tried for one call at most (a provider holds five).
pub const MAX_ATTEMPTS: usize = 5;

/// The proxy's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// How long the provider may send nothing (before the first byte, and between
    /// chunks) before the call ends.
    pub idle_timeout: Duration,
    /// The largest request body forwarded.
    pub max_body_bytes: usize,
    /// The deployment's own keys (off by default).
    pub deployment: deployment::DeploymentSettings,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            deployment: deployment::DeploymentSettings::default(),
        }
    }
}

impl ProxySettings {
    /// Reads the section through `get`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        Ok(Self {
            idle_timeout: Duration::from_secs(positive(
                get,
                "APIKEYS_PROXY_IDLE_TIMEOUT_SECONDS",
                DEFAULT_IDLE_TIMEOUT_SECS,
            )?),
            max_body_bytes: positive(get, "APIKEYS_PROXY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            deployment: deployment::DeploymentSettings::from_lookup(get)?,
        })
    }
}

/// What the proxy function builds once per cold start.
pub struct Proxy {
    state: SealingState,
    verifier: Option<JwtAuthorizer>,
    settings: ProxySettings,
    client: reqwest::Client,
    deployment: deployment::DeploymentKeys,
}

/// A provider's refusal of a key before the first byte, kept in case no key is
/// left: then it is the answer.
struct Refused {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Proxy {
    /// The proxy over `state`, checking users' tokens with `verifier` (`None`: every
    /// call is refused, as no token can be checked).
    pub fn new(
        state: SealingState,
        verifier: Option<JwtAuthorizer>,
        settings: ProxySettings,
    ) -> Self {
        let client = client_builder()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            state,
            verifier,
            settings,
            client,
            deployment: deployment::DeploymentKeys::off(),
        }
    }

    /// The same proxy with the deployment's own keys (used only as its settings say).
    pub fn with_deployment_keys(mut self, keys: deployment::DeploymentKeys) -> Self {
        self.deployment = keys;
        self
    }

    /// The proxy the settings describe (the function's cold start).
    pub async fn from_settings(settings: &crate::Settings) -> Self {
        let state = SealingState::from_settings(settings).await;
        let verifier = settings
            .user_tokens
            .issuer
            .as_ref()
            .map(crate::usertoken::IssuerSettings::authorizer);
        let proxy = Self::new(state, verifier, settings.proxy.clone());
        if !settings.proxy.deployment.fallback {
            return proxy;
        }
        let sdk = crate::aws::sdk_config(&settings.aws).await;
        proxy.with_deployment_keys(deployment::DeploymentKeys::new(
            settings.proxy.deployment.clone(),
            &sdk,
        ))
    }

    /// The state it reads keys through.
    pub fn state(&self) -> &SealingState {
        &self.state
    }

    /// Answers one request as Lambda hands it over (a function URL's payload 2.0
    /// event): the invocation's request id names it in the log.
    pub async fn handle_lambda(
        self: &Arc<Self>,
        request: lambda_http::Request,
    ) -> Response<ProxyBody> {
        use lambda_http::RequestExt;
        let request_id = request
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let (parts, body) = request.into_parts();
        let body = Bytes::copy_from_slice(body.as_ref());
        self.handle(http::Request::from_parts(parts, body), &request_id)
            .await
    }

    /// Answers one request (`body` is the whole request body); the answer's body
    /// streams from the provider.
    pub async fn handle(
        self: &Arc<Self>,
        request: http::Request<Bytes>,
        request_id: &str,
    ) -> Response<ProxyBody> {
        let (parts, body) = request.into_parts();
        let route = match route::parse(&parts.method, parts.uri.path(), parts.uri.query()) {
            Ok(route) => route,
            Err(RouteError::NotFound) => {
                return plain_error(StatusCode::NOT_FOUND, "not_found", "no such proxy path")
            }
            Err(RouteError::MethodNotAllowed) => {
                return plain_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this proxy path takes another method",
                )
            }
        };
        let family = route.provider.entry().api.family;
        if body.len() > self.settings.max_body_bytes {
            return family_error(
                family,
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &format!(
                    "the request body is larger than {} bytes",
                    self.settings.max_body_bytes
                ),
                None,
            );
        }
        let user = match self.user(&parts.headers).await {
            Ok(user) => user,
            Err(message) => {
                tracing::info!(
                    target: "apikeys::audit",
                    event = "proxy.call",
                    outcome = "unauthenticated",
                    provider = route.provider.as_str(),
                    request_id,
                );
                return family_error(
                    family,
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    &message,
                    None,
                );
            }
        };
        let body = match upstream::prepare_body(&route, body) {
            Ok(body) => body,
            Err(message) => {
                return family_error(
                    family,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    message,
                    None,
                )
            }
        };
        let info = CallInfo {
            user: user.as_str().to_owned(),
            provider: route.provider,
            operation: route.operation,
            model: body.model.clone(),
            request_id: request_id.to_owned(),
            started: Instant::now(),
            key_ready: None,
            upstream_began: None,
        };
        let forwarded = headers::to_provider(&parts.headers);
        Box::pin(self.attempts(&route, &user, body, forwarded, info)).await
    }

    /// The user the caller's token names.
    async fn user(&self, headers: &HeaderMap) -> Result<UserId, String> {
        let token = ["authorization", "x-api-key", "x-goog-api-key"]
            .iter()
            .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()));
        let Some(verifier) = &self.verifier else {
            return Err(
                "this deployment checks no user tokens (APIKEYS_JWT_ISSUER is unset)".into(),
            );
        };
        let claims = verifier
            .verify(token)
            .await
            .map_err(|why| format!("the user token does not pass: {why}"))?;
        claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(UserId::parse)
            .ok_or_else(|| "the user token names no user (sub)".to_owned())
    }

    /// The user's keys in use-key's order until one answers.
    async fn attempts(
        self: &Arc<Self>,
        route: &ProxyRoute,
        user: &UserId,
        body: upstream::Body,
        forwarded: HeaderMap,
        mut info: CallInfo,
    ) -> Response<ProxyBody> {
        let family = route.provider.entry().api.family;
        let mut receipt = Receipt::default();
        let mut refused: Option<Refused> = None;
        // Keys tried by this call, passed over by the next choice; whether one was
        // passed over for its endpoint.
        let mut tried: Vec<String> = Vec::new();
        let mut endpoint_refused = false;
        for _ in 0..MAX_ATTEMPTS {
            let used = use_next_key(&self.state, user.as_str(), route.provider, &tried).await;
            let (key, stored, mark) = match used {
                Ok(UsedKey::Active { key, stored, mark }) => (key, stored, mark),
                Ok(UsedKey::Refused(why)) => {
                    // No usable key of the user's: the deployment's, where allowed.
                    if let Some(answer) = self
                        .deployment_call(route, user, &body, &forwarded, &mut info, &mut receipt)
                        .await
                    {
                        return answer;
                    }
                    if refused.is_some() {
                        break;
                    }
                    if endpoint_refused {
                        return endpoint_refusal(family, &info, &receipt);
                    }
                    info.audit(why.as_str(), 0, &receipt, 0, 0);
                    return refusal_answer(family, &why);
                }
                Err(e) => return self.failure(family, &e, &info, &receipt),
            };
            // The key is not sent: its use is taken back.
            let withdraw = || {
                let request_id = info.request_id.as_str();
                withdraw_use(
                    &self.state,
                    user.as_str(),
                    route.provider,
                    mark.as_ref(),
                    request_id,
                )
            };
            if tried.contains(&stored.id) {
                // Never chosen twice; should it be, it is not sent again.
                withdraw().await;
                break;
            }
            tried.push(stored.id.clone());
            receipt.key_id = Some(stored.id.clone());
            receipt.key_hint = stored.key_hint.clone();
            let target = upstream::target(&self.state, route, &stored, &body.model);
            let client = match target {
                Ok((url, Some(endpoint))) => self
                    .state
                    .tester
                    .pinned_client(route.provider, &endpoint, client_builder())
                    .await
                    .map(|client| (url, client))
                    .map_err(|_| ()),
                Ok((url, None)) => Ok((url, self.client.clone())),
                Err(()) => Err(()),
            };
            let (url, client) = match client {
                Ok(target) => target,
                Err(()) => {
                    // The key's endpoint leads where no call may go now: it is not
                    // sent, and the next key is tried.
                    withdraw().await;
                    receipt.attempts.push(Attempt {
                        key_id: stored.id.clone(),
                        reason: "endpoint_refused",
                    });
                    endpoint_refused = true;
                    continue;
                }
            };
            info.key_ready = Some(Instant::now());
            let request = upstream::request(
                &client,
                route,
                url,
                key.expose_secret(),
                &forwarded,
                body.bytes.clone(),
            );
            let Some(request) = request else {
                withdraw().await;
                receipt.attempts.push(Attempt {
                    key_id: stored.id.clone(),
                    reason: "unsendable_key",
                });
                continue;
            };
            let sent = tokio::time::timeout(self.settings.idle_timeout, client.execute(request));
            let answer = match sent.await {
                Err(_) => {
                    info.audit("upstream_timeout", 504, &receipt, 0, 0);
                    return family_error(
                        family,
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream_timeout",
                        "the provider did not answer in time",
                        Some(&receipt),
                    );
                }
                Ok(Err(e)) => {
                    if e.is_connect() {
                        // No connection, so the key was not sent.
                        withdraw().await;
                    }
                    tracing::warn!(
                        request_id = info.request_id.as_str(),
                        provider = route.provider.as_str(),
                        connect = e.is_connect(),
                        "the provider could not be reached"
                    );
                    info.audit("upstream_unreachable", 502, &receipt, 0, 0);
                    return family_error(
                        family,
                        StatusCode::BAD_GATEWAY,
                        "upstream_unreachable",
                        "the provider could not be reached",
                        Some(&receipt),
                    );
                }
                Ok(Ok(answer)) => answer,
            };
            info.upstream_began = Some(Instant::now());
            let status = answer.status();
            if status.as_u16() >= 400 && !matches!(status.as_u16(), 401 | 402 | 403 | 429) {
                // A provider error, read whole (capped) and scrubbed: an error text may
                // quote the key, masked or not.
                let headers = answer.headers().clone();
                let text = read_capped(answer, self.settings.idle_timeout).await;
                let text = scrubbed(&text, key.expose_secret());
                info.audit("provider_error", status.as_u16(), &receipt, 0, 0);
                return whole_answer(status, &headers, text, &receipt);
            }
            if status.as_u16() < 400 {
                drop(key);
                return relay::stream(
                    answer,
                    self.state.base.repo.clone(),
                    self.settings.idle_timeout,
                    receipt,
                    info,
                    relay::Spend::Key {
                        budget: stored.budget,
                    },
                );
            }
            // Refused before the first byte: mark the key and try the next.
            let headers = answer.headers().clone();
            let body_bytes = read_capped(answer, self.settings.idle_timeout).await;
            let body_bytes = scrubbed(&body_bytes, key.expose_secret());
            drop(key);
            let Some(outcome) = classify(status, &headers, &body_bytes) else {
                // A 403 that says nothing of the key (a model or region the account
                // may not use): the key is fine; the provider's answer is the answer.
                info.audit("provider_error", status.as_u16(), &receipt, 0, 0);
                return whole_answer(status, &headers, body_bytes, &receipt);
            };
            let now = OffsetDateTime::now_utc();
            if let Err(e) = self
                .state
                .base
                .repo
                .report_outcome(
                    user.as_str(),
                    route.provider,
                    &stored.id,
                    outcome,
                    Some(stored.key_revision),
                    now,
                )
                .await
            {
                tracing::error!(
                    request_id = info.request_id.as_str(),
                    error = %e,
                    "the provider's refusal of a key could not be recorded"
                );
            }
            receipt.attempts.push(Attempt {
                key_id: stored.id.clone(),
                reason: outcome.as_str(),
            });
            refused = Some(Refused {
                status,
                headers,
                body: body_bytes,
            });
        }
        // No key left: the last refusal is the answer, as the provider gave it.
        match refused {
            Some(last) => {
                info.audit("all_keys_refused", last.status.as_u16(), &receipt, 0, 0);
                whole_answer(last.status, &last.headers, last.body, &receipt)
            }
            None if endpoint_refused => endpoint_refusal(family, &info, &receipt),
            None => {
                info.audit("no_usable_key", 502, &receipt, 0, 0);
                family_error(
                    family,
                    StatusCode::BAD_GATEWAY,
                    "no_usable_key",
                    "no key of this provider could be used",
                    Some(&receipt),
                )
            }
        }
    }

    /// The call with the deployment's own key, when the settings allow one for this
    /// provider: counted against the user's monthly allowance, refused (402) once it
    /// is spent. `None`: no deployment key applies.
    async fn deployment_call(
        self: &Arc<Self>,
        route: &ProxyRoute,
        user: &UserId,
        body: &upstream::Body,
        forwarded: &HeaderMap,
        info: &mut CallInfo,
        receipt: &mut Receipt,
    ) -> Option<Response<ProxyBody>> {
        let family = route.provider.entry().api.family;
        let stand_in = self
            .deployment
            .stand_in(
                &self.state.base.repo,
                user.as_str(),
                route.provider,
                OffsetDateTime::now_utc(),
            )
            .await;
        let stand_in = stand_in.transpose()?;
        // The receipt names the deployment's key once it is the answer's.
        let stands_in = |receipt: &mut Receipt| {
            receipt.deployment = true;
            receipt.key_id = Some("deployment".into());
            receipt.key_hint = None;
        };
        let key = match stand_in {
            Ok(deployment::StandIn::Key { key, .. }) => key,
            Ok(deployment::StandIn::AllowanceSpent) => {
                stands_in(receipt);
                info.audit("deployment_allowance_exhausted", 402, receipt, 0, 0);
                let mut out = json_answer(
                    StatusCode::PAYMENT_REQUIRED,
                    &json!({
                        "error": "deployment_allowance_exhausted",
                        "message": "no key of yours for this provider, and this month's allowance on the deployment's key is spent",
                    }),
                );
                receipt.write(out.headers_mut());
                return Some(out);
            }
            Err(e) => {
                stands_in(receipt);
                tracing::error!(request_id = info.request_id.as_str(), error = %e, "the deployment's key or the allowance could not be read");
                return Some(unavailable(family, info, receipt));
            }
        };
        let Ok(url) = upstream::deployment_url(&self.state, route) else {
            return None;
        };
        let request = upstream::request(
            &self.client,
            route,
            url,
            key.expose_secret(),
            forwarded,
            body.bytes.clone(),
        );
        let request = request?;
        stands_in(receipt);
        info.key_ready = Some(Instant::now());
        let sent = tokio::time::timeout(self.settings.idle_timeout, self.client.execute(request));
        let answer = match sent.await {
            Ok(Ok(answer)) => answer,
            Err(_) => {
                info.audit("upstream_timeout", 504, receipt, 0, 0);
                return Some(family_error(
                    family,
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    "the provider did not answer in time",
                    Some(receipt),
                ));
            }
            Ok(Err(_)) => {
                info.audit("upstream_unreachable", 502, receipt, 0, 0);
                return Some(family_error(
                    family,
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreachable",
                    "the provider could not be reached",
                    Some(receipt),
                ));
            }
        };
        info.upstream_began = Some(Instant::now());
        if answer.status().as_u16() >= 400 {
            // The operator's key must not show through a provider's error text.
            let status = answer.status();
            let headers = answer.headers().clone();
            let text = read_capped(answer, self.settings.idle_timeout).await;
            let text = scrubbed(&text, key.expose_secret());
            info.audit("provider_error", status.as_u16(), receipt, 0, 0);
            return Some(whole_answer(status, &headers, text, receipt));
        }
        drop(key);
        let info = std::mem::replace(info, info.again());
        Some(relay::stream(
            answer,
            self.state.base.repo.clone(),
            self.settings.idle_timeout,
            std::mem::take(receipt),
            info,
            relay::Spend::Deployment,
        ))
    }

    fn failure(
        &self,
        family: ApiFamily,
        error: &UsageError,
        info: &CallInfo,
        receipt: &Receipt,
    ) -> Response<ProxyBody> {
        let transient = match error {
            UsageError::KeyMaterial(_) => true,
            UsageError::Repo(e) => e.is_transient(),
            UsageError::Crypto(_) => false,
        };
        tracing::error!(
            request_id = info.request_id.as_str(),
            error = %error,
            "the proxy could not use a key"
        );
        if transient {
            unavailable(family, info, receipt)
        } else {
            info.audit("internal_error", 500, receipt, 0, 0);
            let mut out = family_error(
                family,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                &format!("internal error (request id {})", info.request_id),
                Some(receipt),
            );
            out.headers_mut().insert(
                "x-apikeys-request-id",
                headers::text_value(&info.request_id),
            );
            out
        }
    }
}

/// The provider calls' client: a bounded connect, no redirects (one could carry the
/// key's header elsewhere), and no overall timeout (answers stream for minutes; the
/// idle timeout bounds each wait instead).
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_their_variables() {
        let s = ProxySettings::from_lookup(&|n: &str| {
            (n == "APIKEYS_PROXY_IDLE_TIMEOUT_SECONDS").then(|| "5".to_owned())
        })
        .unwrap();
        assert_eq!(s.idle_timeout, Duration::from_secs(5));
        assert_eq!(s.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        let e = ProxySettings::from_lookup(&|n: &str| {
            (n == "APIKEYS_PROXY_MAX_BODY_BYTES").then(|| "lots".to_owned())
        })
        .unwrap_err();
        assert_eq!(e.name, "APIKEYS_PROXY_MAX_BODY_BYTES");
    }
}
