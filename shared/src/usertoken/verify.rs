//! The JWT authorizer, checking what API Gateway's HTTP API JWT authorizer checks:
//! a token in the identity source (alone or after `Bearer`); an RSA signature by the
//! issuer's key named by the header's `kid`; `iss` equal to the issuer; `aud`, or
//! `client_id` only when there is no `aud`, among the audiences; `exp` after now;
//! `nbf` and `iat` before now. Anything else is a 401 `{"message":"Unauthorized"}`.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html>
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-jwt.html>

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::jwks::KeySource;

/// "Currently, only RSA-based algorithms are supported."
const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];

/// Why a request was refused: said in the `www-authenticate` header, as API Gateway
/// does, and in the log line; never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No token in the identity source.
    #[error("no token in the identity source")]
    NoToken,
    /// A token that does not pass (why, in words).
    #[error("{0}")]
    Invalid(&'static str),
}

/// The verifier of one issuer's tokens.
pub struct JwtAuthorizer {
    issuer: String,
    audiences: Vec<String>,
    keys: KeySource,
}

impl JwtAuthorizer {
    /// Accepts tokens of `issuer` for any of `audiences`, signed by a key of `keys`.
    pub fn new(issuer: String, audiences: Vec<String>, keys: KeySource) -> Self {
        Self {
            issuer,
            audiences,
            keys,
        }
    }

    /// The issuer whose tokens pass.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences a token must name.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The claims of the token in `identity` (the identity source's value).
    pub async fn verify(&self, identity: Option<&str>) -> Result<Map<String, Value>, Refusal> {
        let token = identity
            .map(str::trim)
            .map(|v| match v.get(..6) {
                Some(scheme)
                    if scheme.eq_ignore_ascii_case("bearer")
                        && v[6..].chars().next().is_none_or(char::is_whitespace) =>
                {
                    v[6..].trim()
                }
                _ => v,
            })
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::NoToken)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Refusal::Invalid("the token is not a well-formed JWT"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(Refusal::Invalid("the token's algorithm is not supported"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or(Refusal::Invalid("the token has no kid"))?;
        let key = self
            .keys
            .key(kid)
            .await
            .ok_or(Refusal::Invalid("no key of the issuer has the token's kid"))?;
        let alg_name = serde_json::to_value(header.alg).ok();
        if key
            .alg
            .is_some_and(|alg| alg_name.as_ref().and_then(Value::as_str) != Some(alg.as_str()))
        {
            return Err(Refusal::Invalid("the token's algorithm is not its key's"));
        }

        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_nbf = true;
        // aud, or client_id without aud, is checked below as API Gateway does it.
        validation.validate_aud = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| Refusal::Invalid(reason(e.kind())))?
            .claims;

        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => self.audiences.contains(aud),
            Some(Value::Array(auds)) => auds
                .iter()
                .filter_map(Value::as_str)
                .any(|aud| self.audiences.iter().any(|a| a == aud)),
            Some(_) => false,
            None => claims
                .get("client_id")
                .and_then(Value::as_str)
                .is_some_and(|id| self.audiences.iter().any(|a| a == id)),
        };
        if !audience_ok {
            return Err(Refusal::Invalid("the token does not have a valid audience"));
        }
        if let Some(iat) = claims.get("iat") {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if iat.as_u64().is_none_or(|iat| iat > now) {
                return Err(Refusal::Invalid("the token's iat is not in the past"));
            }
        }
        Ok(claims)
    }
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "the token does not have a valid issuer",
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => "the token has no exp",
        ErrorKind::MissingRequiredClaim(_) => "the token has no iss",
        ErrorKind::InvalidClaimFormat(_) => "a claim of the token has the wrong type",
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not its key's",
        _ => "the token is not a well-formed JWT",
    }
}
