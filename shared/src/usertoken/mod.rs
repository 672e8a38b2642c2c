//! Users' own tokens (JWTs of the configured issuer), checked as API Gateway's JWT
//! authorizer checks them: by the local API in front of every route, and by use-key
//! when a deployment binds the release of a key to a live user
//! (`APIKEYS_USE_KEY_REQUIRE_USER_TOKEN`).

pub mod jwks;
pub mod verify;

use std::time::Duration;

use crate::settings::{lookup, SettingsError};
pub use jwks::{FetchedKeys, JwksLocation, KeySet, KeySource};
pub use verify::{JwtAuthorizer, Refusal};

/// An issuer whose tokens pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    /// Its `iss`.
    pub issuer: String,
    /// The accepted `aud` / `client_id` values.
    pub audiences: Vec<String>,
    /// Where its keys are.
    pub jwks: JwksLocation,
}

impl IssuerSettings {
    /// `APIKEYS_JWT_ISSUER`, `APIKEYS_JWT_AUDIENCE` (required with an issuer) and
    /// `APIKEYS_JWT_JWKS_URL` through `get`; `None` when no issuer is set.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, SettingsError> {
        let Some(issuer) = lookup(get, "APIKEYS_JWT_ISSUER").map(|v| v.trim().to_owned()) else {
            return Ok(None);
        };
        let audiences: Vec<String> = lookup(get, "APIKEYS_JWT_AUDIENCE")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if audiences.is_empty() {
            return Err(SettingsError::new(
                "APIKEYS_JWT_AUDIENCE",
                "must name the audiences (app client ids) when APIKEYS_JWT_ISSUER is set",
            ));
        }
        let jwks = match lookup(get, "APIKEYS_JWT_JWKS_URL") {
            Some(url) => JwksLocation::Url(url.trim().to_owned()),
            None => JwksLocation::Discovery {
                issuer: issuer.clone(),
            },
        };
        Ok(Some(Self {
            issuer,
            audiences,
            jwks,
        }))
    }

    /// A verifier of this issuer's tokens; its keys are fetched on first use.
    pub fn authorizer(&self) -> JwtAuthorizer {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        JwtAuthorizer::new(
            self.issuer.clone(),
            self.audiences.clone(),
            KeySource::Fetched(FetchedKeys::new(client, self.jwks.clone())),
        )
    }
}

/// Whether use-key releases keys only with the user's own token, and whose tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserTokenSettings {
    /// `APIKEYS_USE_KEY_REQUIRE_USER_TOKEN`: a payload without a user token is refused.
    pub required: bool,
    /// The issuer of the tokens (`APIKEYS_JWT_*`).
    pub issuer: Option<IssuerSettings>,
}

impl UserTokenSettings {
    /// Reads the section through `get`; requiring tokens without an issuer is an
    /// error at start-up.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        const NAME: &str = "APIKEYS_USE_KEY_REQUIRE_USER_TOKEN";
        let required = match lookup(get, NAME).map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(_) => return Err(SettingsError::new(NAME, "must be true or false")),
        };
        let issuer = IssuerSettings::from_lookup(get)?;
        if required && issuer.is_none() {
            return Err(SettingsError::new(
                NAME,
                "needs APIKEYS_JWT_ISSUER (and APIKEYS_JWT_AUDIENCE): whose tokens to accept",
            ));
        }
        Ok(Self { required, issuer })
    }
}
