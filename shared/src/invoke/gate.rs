//! Binding the release of a key to a live user: with `APIKEYS_USE_KEY_REQUIRE_USER_TOKEN`
//! a payload carries the user's own token (`userToken`, the JWT the app received from
//! its client), checked against the configured issuer as the local API checks it, and
//! the user is the token's `sub`. A server without one is refused (403). Deployments
//! that leave it off (background jobs using keys with no user present) trust the
//! `userId` the caller names, as before.

use serde_json::Value;

use crate::api::UserId;

/// A payload refused before it is read, as the answer says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRefusal {
    /// 400 (a malformed field) or 403 (no token, or one that does not pass).
    pub status: u16,
    /// The field (`userToken` or `userId`).
    pub field: &'static str,
    /// Why, never quoting the token.
    pub message: String,
}

fn refuse(status: u16, field: &'static str, message: impl Into<String>) -> GateRefusal {
    GateRefusal {
        status,
        field,
        message: message.into(),
    }
}

/// Whose tokens use-key checks, and whether it requires one.
#[derive(Default)]
pub struct UserTokenGate {
    required: bool,
    #[cfg(feature = "usertoken")]
    verifier: Option<crate::usertoken::JwtAuthorizer>,
}

impl UserTokenGate {
    /// The gate the settings describe.
    #[cfg(feature = "usertoken")]
    pub fn from_settings(settings: &crate::usertoken::UserTokenSettings) -> Self {
        Self {
            required: settings.required,
            verifier: settings
                .issuer
                .as_ref()
                .map(crate::usertoken::IssuerSettings::authorizer),
        }
    }

    /// A gate over a verifier (tests pass one with fixed keys).
    #[cfg(feature = "usertoken")]
    pub fn with_verifier(verifier: crate::usertoken::JwtAuthorizer, required: bool) -> Self {
        Self {
            required,
            verifier: Some(verifier),
        }
    }

    /// The user the payload's token names (`None`: no token, and none required).
    pub async fn subject(&self, payload: &Value) -> Result<Option<UserId>, GateRefusal> {
        let token = match payload.get("userToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(token)) => Some(token.as_str()),
            Some(_) => return Err(refuse(400, "userToken", "must be a string")),
        };
        match token {
            None if self.required => Err(refuse(
                403,
                "userToken",
                "is required: this deployment releases a key only with its user's own token",
            )),
            None => Ok(None),
            Some(token) => self.verify(token).await.map(Some),
        }
    }

    #[cfg(feature = "usertoken")]
    async fn verify(&self, token: &str) -> Result<UserId, GateRefusal> {
        let Some(verifier) = &self.verifier else {
            return Err(unchecked());
        };
        let claims = verifier
            .verify(Some(token))
            .await
            .map_err(|why| refuse(403, "userToken", why.to_string()))?;
        claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(UserId::parse)
            .ok_or_else(|| refuse(403, "userToken", "the token names no user (sub)"))
    }

    #[cfg(not(feature = "usertoken"))]
    async fn verify(&self, _token: &str) -> Result<UserId, GateRefusal> {
        Err(unchecked())
    }
}

fn unchecked() -> GateRefusal {
    refuse(
        400,
        "userToken",
        "is not checked by this deployment (APIKEYS_JWT_ISSUER is unset), so it cannot bind the key to a user",
    )
}
