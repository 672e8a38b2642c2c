//! The issuer's public keys (a JWK Set), by key id: fixed (the local issuer) or
//! fetched from the issuer. A fetched set is found the way API Gateway finds it, via
//! `{issuer}/.well-known/openid-configuration` and its `jwks_uri`, unless a JWKS URL
//! is given; it is kept for two hours (API Gateway caches keys that long) and fetched
//! again, at most once a minute, when a token names a key id it lacks (key rotation).
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html>

use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde_json::Value;
use tokio::sync::Mutex;

/// How long a fetched key set is used before it is fetched again.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(2 * 3600);
/// The shortest time between two fetches for an unknown key id.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// One RSA signing key of the set.
#[derive(Clone)]
pub struct SigningKey {
    /// Its key id.
    pub kid: String,
    /// The algorithm it is for, when the set says (`alg`).
    pub alg: Option<String>,
    /// The key.
    pub key: DecodingKey,
}

/// The usable keys of a JWK Set: RSA keys with a key id, meant for signatures.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// Reads a JWK Set document, skipping keys that are not RSA signing keys with a
    /// `kid` (a set may hold other kinds).
    pub fn from_jwks(doc: &Value) -> Self {
        let text =
            |jwk: &Value, name: &str| jwk.get(name).and_then(Value::as_str).map(str::to_owned);
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|jwk| text(jwk, "kty").as_deref() == Some("RSA"))
            .filter(|jwk| text(jwk, "use").is_none_or(|u| u == "sig"))
            .filter_map(|jwk| {
                let key =
                    DecodingKey::from_rsa_components(&text(jwk, "n")?, &text(jwk, "e")?).ok()?;
                Some(SigningKey {
                    kid: text(jwk, "kid")?,
                    alg: text(jwk, "alg"),
                    key,
                })
            })
            .collect();
        Self { keys }
    }

    /// The key with this id.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Where a fetched key set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksLocation {
    /// This JWKS URL.
    Url(String),
    /// The `jwks_uri` of the issuer's OpenID configuration.
    Discovery {
        /// The issuer (its `/.well-known/openid-configuration` is read).
        issuer: String,
    },
}

/// The keys the authorizer checks signatures with.
pub enum KeySource {
    /// A set known at start-up (the local issuer's).
    Fixed(KeySet),
    /// A set fetched from the issuer, kept and refreshed.
    Fetched(FetchedKeys),
}

impl KeySource {
    /// The key with this id, fetching the set (again) when it is missing or old.
    pub async fn key(&self, kid: &str) -> Option<SigningKey> {
        match self {
            Self::Fixed(set) => set.get(kid).cloned(),
            Self::Fetched(fetched) => fetched.key(kid).await,
        }
    }
}

#[derive(Default)]
struct Cached {
    keys: KeySet,
    fetched_at: Option<Instant>,
}

/// A key set fetched over HTTP(S).
pub struct FetchedKeys {
    client: reqwest::Client,
    location: JwksLocation,
    cached: Mutex<Cached>,
}

impl FetchedKeys {
    /// Keys from `location`, fetched on first use.
    pub fn new(client: reqwest::Client, location: JwksLocation) -> Self {
        Self {
            client,
            location,
            cached: Mutex::new(Cached::default()),
        }
    }

    async fn key(&self, kid: &str) -> Option<SigningKey> {
        // One fetch at a time: concurrent requests wait for it instead of repeating it.
        let mut cached = self.cached.lock().await;
        let age = cached.fetched_at.map(|at| at.elapsed());
        let stale = age.is_none_or(|age| age >= KEYS_MAX_AGE);
        let unknown = cached.keys.get(kid).is_none();
        let may_refetch = age.is_none_or(|age| age >= REFETCH_INTERVAL);
        if stale || (unknown && may_refetch) {
            match self.fetch().await {
                Ok(keys) => {
                    tracing::info!(
                        event = "jwks.fetched",
                        keys = keys.len(),
                        "fetched the issuer's keys"
                    );
                    *cached = Cached {
                        keys,
                        fetched_at: Some(Instant::now()),
                    };
                }
                Err(message) => {
                    // Keep what we had; try again after the interval.
                    tracing::warn!(event = "jwks.fetch_failed", error = %message, "cannot fetch the issuer's keys");
                    cached.fetched_at = Some(Instant::now());
                }
            }
        }
        cached.keys.get(kid).cloned()
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let url = match &self.location {
            JwksLocation::Url(url) => url.clone(),
            JwksLocation::Discovery { issuer } => {
                let config_url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let config = self.get_json(&config_url).await?;
                config
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{config_url} has no jwks_uri"))?
            }
        };
        let doc = self.get_json(&url).await?;
        let keys = KeySet::from_jwks(&doc);
        if keys.is_empty() {
            return Err(format!("{url} holds no RSA signing key with a kid"));
        }
        Ok(keys)
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let response = self
            .client
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: status {}", response.status()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("GET {url}: not JSON: {e}"))
    }
}
