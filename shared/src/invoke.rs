//! The payloads of `use-key`, the function the app's own servers invoke with the
//! Lambda Invoke API (never through API Gateway) to get a user's key:
//!
//! - `{"userId", "provider", "keyId"?}` →
//!   `{"found": true, "apiKey", "keyId", "lease", "keyHint", "provider", "settings",
//!   "endpoint"?, "endpointAddresses"?}` (a stored endpoint is resolved and checked
//!   again here, under today's rules: the addresses it leads to, which the caller
//!   connects to; one that leads somewhere refused now is `{"found": false, "reason":
//!   "endpoint_refused", "keyId", "field"}`, the key not handed out)
//!   or `{"found": false, "reason": "none" | "inactive" | "expired" | "all_unavailable", …}`
//!   (`all_unavailable` adds `"unavailable"`, what the provider said, and
//!   `"availableAt"`, the earliest time a key is usable again, or null when only
//!   replacing or testing it again makes it usable).
//! - `{"userId", "provider", "keyId", "lease"?, "outcome": "rate_limited" | "invalid" |
//!   "quota_exceeded" | "ok", "retryAfterSeconds"?}` → `{"recorded": true}` or
//!   `{"recorded": false, "reason": "stale" | "none"}`: what the provider answered the
//!   app's server, so the next call can skip the key. The `lease` is the one the use
//!   answered: a report about a key replaced or tested since is stale and marks
//!   nothing. A report without one (callers before leases) applies to the key as it
//!   is now; that form is kept for one release.
//! - Bad input → `{"error": {"field", "message"}}`; unavailable key material →
//!   `{"error": {"message"}, "retryAfterSeconds"}`; anything else →
//!   `{"error": {"message": "internal error"}, "requestId"}` with the cause in the
//!   log under that request id. No error ever carries key material.
//!
//! - With the deployment's own keys on (`APIKEYS_DEPLOYMENT_KEY_FALLBACK`), a use
//!   without `keyId` that finds no usable key of the user's answers the deployment's
//!   key for that provider, while the user's monthly allowance lasts: `{"found": true,
//!   "source": "deployment", "apiKey", "keyId": "deployment", "provider", "settings":
//!   {}, "allowanceTokensLeft", "userKeys"}` (`userKeys`: why none of the user's was
//!   usable). The app reports each such call with its tokens, `{"keyId": "deployment",
//!   "outcome", "usage": {"inputTokens", "outputTokens"}}` → `{"recorded": true}`;
//!   once the allowance is spent the use answers the user's refusal with
//!   `"deploymentAllowance": "exhausted"`. A user's key answers `"source": "user"`.
//! - Any payload may carry `userToken`, the user's own JWT: checked against the
//!   configured issuer ([`UserTokenGate`]), it names the user, and with
//!   `APIKEYS_USE_KEY_REQUIRE_USER_TOKEN` a payload without one is refused
//!   (`"status": 403`).
//!
//! A payload that came through API Gateway (it has a `requestContext`) is refused:
//! the function trusts the `userId` it is given, which only the app's servers may
//! name.

use secrecy::ExposeSecret;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::api::{UserId, KEY_MATERIAL_RETRY_AFTER_SECS};
use crate::deployment::{DeploymentKeys, StandIn, StandInError};
use crate::provider::ProviderId;
use crate::repo::ReportedOutcome;
use crate::sealing_state::SealingState;
use crate::usage::{use_key, withdraw_use, Refusal, UsageError, UsedKey};
use endpoint::{check_endpoint, Checked};
pub use gate::{GateRefusal, UserTokenGate};
pub use payload::{
    lease_of, Outcome, PayloadError, UseKeyRequest, DEFAULT_RETRY_AFTER_SECS, DEPLOYMENT_KEY_ID,
    MAX_RETRY_AFTER_SECS,
};

fn rfc3339(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map_or(Value::Null, Value::String)
}

/// Answers one payload with no user-token check (a `userToken` in it is refused as
/// unchecked). `request_id` is the invocation's (for the log and the answer of an
/// unexpected failure).
pub async fn handle(state: &SealingState, payload: &Value, request_id: &str) -> Value {
    handle_gated(state, &UserTokenGate::default(), payload, request_id).await
}

/// Answers one payload after `gate` has checked the user's token: the user is then
/// the token's, and a `userId` beside it must name the same user.
pub async fn handle_gated(
    state: &SealingState,
    gate: &UserTokenGate,
    payload: &Value,
    request_id: &str,
) -> Value {
    handle_with(state, gate, &DeploymentKeys::off(), payload, request_id).await
}

/// Answers one payload as [`handle_gated`] does, with `deployment`'s keys standing
/// in for a user who has no usable key, where its settings allow (see the module).
pub async fn handle_with(
    state: &SealingState,
    gate: &UserTokenGate,
    deployment: &DeploymentKeys,
    payload: &Value,
    request_id: &str,
) -> Value {
    let subject = match gate.subject(payload).await {
        Ok(subject) => subject,
        Err(refusal) => {
            tracing::info!(
                target: "apikeys::audit",
                event = "api_key.use",
                outcome = "failure",
                field = refusal.field,
                status = refusal.status,
                reason = refusal.message.as_str(),
                request_id,
            );
            return json!({
                "error": {"field": refusal.field, "message": refusal.message},
                "status": refusal.status,
            });
        }
    };
    let request = match UseKeyRequest::parse_for(payload, subject) {
        Ok(request) => request,
        Err(e) => {
            tracing::info!(
                target: "apikeys::audit",
                event = "api_key.use",
                outcome = "failure",
                field = e.field.as_str(),
                request_id,
            );
            let mut answer = json!({"error": {"field": e.field, "message": e.message}});
            if e.status != 400 {
                answer["status"] = e.status.into();
            }
            return answer;
        }
    };
    match request {
        UseKeyRequest::Use {
            user,
            provider,
            key_id,
        } => {
            let used = use_key(state, user.as_str(), provider, key_id.as_deref()).await;
            if let (None, Ok(UsedKey::Refused(why))) = (&key_id, &used) {
                let stand_in = deployment_use(state, deployment, &user, provider, why, request_id);
                if let Some(answer) = stand_in.await {
                    return answer;
                }
            }
            let endpoint = match &used {
                Ok(UsedKey::Active { stored, mark, .. }) => {
                    let checked = check_endpoint(state, provider, stored.endpoint.as_ref()).await;
                    if let Checked::Refused(_) = checked {
                        // Not handed out: the use is not one.
                        let mark = mark.as_ref();
                        withdraw_use(state, user.as_str(), provider, mark, request_id).await;
                    }
                    checked
                }
                _ => Checked::NoEndpoint,
            };
            answer_use(used, endpoint, &user, provider, request_id)
        }
        UseKeyRequest::DeploymentUsage {
            user,
            provider,
            tokens,
        } => {
            let month = crate::repo::month_of(OffsetDateTime::now_utc());
            match state
                .base
                .repo
                .add_deployment_tokens(user.as_str(), &month, tokens)
                .await
            {
                Ok(()) => {
                    tracing::info!(
                        target: "apikeys::audit",
                        event = "deployment_key.usage_reported",
                        outcome = "success",
                        user_id = user.as_str(),
                        provider = provider.as_str(),
                        tokens,
                        request_id,
                    );
                    json!({"recorded": true})
                }
                Err(e) if e.is_transient() => unavailable(&e, request_id),
                Err(e) => internal(&e, request_id),
            }
        }
        UseKeyRequest::Report {
            user,
            provider,
            key_id,
            lease,
            outcome,
            retry_after_secs,
        } => {
            let now = OffsetDateTime::now_utc();
            let reported = match outcome {
                Outcome::RateLimited => ReportedOutcome::RateLimited {
                    until: now + Duration::seconds(retry_after_secs as i64),
                },
                Outcome::Invalid => ReportedOutcome::Invalid,
                Outcome::QuotaExceeded => ReportedOutcome::QuotaExceeded,
                Outcome::Ok => ReportedOutcome::Ok,
            };
            match state
                .base
                .repo
                .report_outcome(user.as_str(), provider, &key_id, reported, lease, now)
                .await
            {
                Ok(answer) => {
                    let reason = answer.reason();
                    tracing::info!(
                        target: "apikeys::audit",
                        event = "api_key.outcome_reported",
                        outcome = if reason.is_none() { "success" } else { "failure" },
                        user_id = user.as_str(),
                        provider = provider.as_str(),
                        key_id = key_id.as_str(),
                        reported = reported.as_str(),
                        reason = reason.unwrap_or(""),
                        leased = lease.is_some(),
                        request_id,
                    );
                    match reason {
                        None => json!({"recorded": true}),
                        Some(reason) => json!({"recorded": false, "reason": reason}),
                    }
                }
                Err(e) if e.is_transient() => unavailable(&e, request_id),
                Err(e) => internal(&e, request_id),
            }
        }
    }
}

/// The deployment's key for `provider` in place of the user's (refused for `why`),
/// when the settings allow one and the user's allowance for the month lasts; `None`
/// when no deployment key applies.
async fn deployment_use(
    state: &SealingState,
    deployment: &DeploymentKeys,
    user: &UserId,
    provider: ProviderId,
    why: &Refusal,
    request_id: &str,
) -> Option<Value> {
    let now = OffsetDateTime::now_utc();
    let stand_in = match deployment
        .stand_in(&state.base.repo, user.as_str(), provider, now)
        .await
    {
        Ok(Some(stand_in)) => stand_in,
        Ok(None) => return None,
        Err(StandInError::Repo(e)) if !e.is_transient() => return Some(internal(&e, request_id)),
        Err(e) => return Some(unavailable(&e, request_id)),
    };
    let (key, tokens_left) = match &stand_in {
        StandIn::Key { key, tokens_left } => (Some(key), *tokens_left),
        StandIn::AllowanceSpent => (None, 0),
    };
    tracing::info!(
        target: "apikeys::audit",
        event = "api_key.used",
        outcome = if key.is_some() { "success" } else { "failure" },
        user_id = user.as_str(),
        provider = provider.as_str(),
        key_id = DEPLOYMENT_KEY_ID,
        source = "deployment",
        reason = if key.is_some() { "" } else { "deployment_allowance_exhausted" },
        request_id,
    );
    let Some(key) = key else {
        let mut answer = refused(why);
        answer["deploymentAllowance"] = json!("exhausted");
        return Some(answer);
    };
    Some(json!({
        "found": true,
        "source": "deployment",
        "apiKey": key.expose_secret(),
        "keyId": DEPLOYMENT_KEY_ID,
        "provider": provider.as_str(),
        "settings": {},
        "allowanceTokensLeft": tokens_left,
        "userKeys": why.as_str(),
    }))
}

/// The answer when no key of the user's is handed out.
fn refused(why: &Refusal) -> Value {
    let mut answer = json!({"found": false, "reason": why.as_str()});
    if let Refusal::AllUnavailable {
        reason,
        available_at,
    } = why
    {
        answer["unavailable"] = Value::String(reason.clone());
        answer["availableAt"] = available_at.map_or(Value::Null, rfc3339);
    }
    answer
}

fn answer_use(
    used: Result<UsedKey, UsageError>,
    endpoint: Checked,
    user: &UserId,
    provider: ProviderId,
    request_id: &str,
) -> Value {
    let audit = |outcome: &str, key_id: &str, reason: &str| {
        tracing::info!(
            target: "apikeys::audit",
            event = "api_key.used",
            outcome,
            user_id = user.as_str(),
            provider = provider.as_str(),
            key_id,
            reason,
            request_id,
        );
    };
    match used {
        Ok(UsedKey::Active { stored, .. }) if matches!(endpoint, Checked::Refused(_)) => {
            // The key is not handed out: its endpoint leads where no call may go now.
            audit("failure", &stored.id, "endpoint_refused");
            let field = match endpoint {
                Checked::Refused(field) => field,
                _ => "endpoint",
            };
            json!({"found": false, "reason": "endpoint_refused", "keyId": stored.id, "field": field})
        }
        Ok(UsedKey::Active { key, stored, .. }) => {
            audit("success", &stored.id, "");
            let mut answer = json!({
                "found": true,
                "source": "user",
                "apiKey": key.expose_secret(),
                "keyId": stored.id,
                "lease": lease_of(stored.key_revision),
                "keyHint": stored.key_hint,
                "provider": provider.as_str(),
                "settings": stored.settings,
            });
            if let Some(endpoint) = stored.endpoint.filter(|e| !e.is_null()) {
                answer["endpoint"] = endpoint;
            }
            if let Checked::Addresses(ips) = endpoint {
                answer["endpointAddresses"] = json!(ips);
            }
            answer
        }
        Ok(UsedKey::Refused(why)) => {
            audit("failure", "", why.as_str());
            refused(&why)
        }
        Err(UsageError::KeyMaterial(cause)) => {
            tracing::error!(request_id, error = %cause, "key material unavailable");
            json!({
                "error": {"message": "the service is temporarily unavailable: try again shortly"},
                "retryAfterSeconds": KEY_MATERIAL_RETRY_AFTER_SECS,
            })
        }
        Err(UsageError::Repo(e)) if e.is_transient() => unavailable(&e, request_id),
        Err(e) => internal(&e, request_id),
    }
}

/// The table failed for now: the caller may try again after the wait.
fn unavailable(cause: &dyn std::fmt::Display, request_id: &str) -> Value {
    tracing::error!(request_id, error = %cause, "the table is unavailable");
    json!({
        "error": {"message": "the service is temporarily unavailable: try again shortly"},
        "retryAfterSeconds": crate::api::TABLE_RETRY_AFTER_SECS,
    })
}

fn internal(cause: &dyn std::fmt::Display, request_id: &str) -> Value {
    tracing::error!(request_id, error = %cause, "use-key failed");
    json!({"error": {"message": "internal error"}, "requestId": request_id})
}

mod endpoint;
mod gate;
mod payload;
#[cfg(test)]
mod tests;
