//! Timeouts, base URLs and the endpoint policy of the key tests, read once from the
//! environment.

use std::net::IpAddr;
use std::time::Duration;

use crate::provider::ProviderId;

/// Connect timeout of a check call, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Total time budget of a check, retries included, by default.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The variable that lets user-given endpoints use http on loopback.
pub const ALLOW_LOOPBACK_ENDPOINTS: &str = "APIKEYS_ALLOW_LOOPBACK_ENDPOINTS";

/// A configuration error of the key tests; names the variable, not the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} is invalid: {reason}")]
pub struct KeyTestConfigError {
    /// The variable.
    pub name: String,
    /// Why.
    pub reason: String,
}

impl From<KeyTestConfigError> for crate::settings::SettingsError {
    fn from(err: KeyTestConfigError) -> Self {
        Self::new(err.name, err.reason)
    }
}

/// Timeouts, base URLs and the endpoint policy of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTestSettings {
    /// Connect timeout of one attempt.
    pub connect_timeout: Duration,
    /// Budget of a whole check.
    pub total_timeout: Duration,
    /// First backoff; doubled per retry, plus up to as much jitter.
    pub backoff: Duration,
    /// Whether user-given endpoints may be http on loopback and resolve to
    /// loopback (a local model server); off in any deployed stage.
    pub allow_loopback_endpoints: bool,
    base_urls: Vec<Option<String>>,
}

impl Default for KeyTestSettings {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            backoff: Duration::from_millis(100),
            allow_loopback_endpoints: false,
            base_urls: ProviderId::ALL
                .iter()
                .map(|p| p.entry().default_base_url.map(str::to_owned))
                .collect(),
        }
    }
}

/// `APIKEYS_<PROVIDER>_BASE_URL`, e.g. `APIKEYS_GOOGLE_AI_BASE_URL`.
pub fn base_url_variable(provider: ProviderId) -> String {
    provider.entry().base_url_variable.to_owned()
}

/// Whether `host` (as in a URL) names this machine: `localhost`, a `.localhost`
/// name (RFC 6761) or a loopback address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| crate::keytest::ssrf::classify(ip).is_loopback())
}

impl KeyTestSettings {
    /// Reads `APIKEYS_KEY_TEST_CONNECT_TIMEOUT_MS`, `APIKEYS_KEY_TEST_TIMEOUT_MS`,
    /// [`ALLOW_LOOPBACK_ENDPOINTS`] and the base URLs through `get`. A base URL must
    /// be https, or http on loopback (a local fake provider): a key is never sent
    /// in clear over a network.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, KeyTestConfigError> {
        let mut settings = Self::default();
        let set = |name: &str| crate::settings::lookup(get, name);
        let ms = |name: &str, default: Duration| -> Result<Duration, KeyTestConfigError> {
            match set(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| KeyTestConfigError {
                        name: name.to_owned(),
                        reason: "must be a positive number of milliseconds".into(),
                    }),
            }
        };
        settings.connect_timeout = ms(
            "APIKEYS_KEY_TEST_CONNECT_TIMEOUT_MS",
            DEFAULT_CONNECT_TIMEOUT,
        )?;
        settings.total_timeout = ms("APIKEYS_KEY_TEST_TIMEOUT_MS", DEFAULT_TOTAL_TIMEOUT)?;
        settings.allow_loopback_endpoints = match set(ALLOW_LOOPBACK_ENDPOINTS).as_deref() {
            None => false,
            Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
            Some(v) if v.trim().eq_ignore_ascii_case("false") => false,
            Some(_) => {
                return Err(KeyTestConfigError {
                    name: ALLOW_LOOPBACK_ENDPOINTS.to_owned(),
                    reason: "must be true or false".into(),
                })
            }
        };
        for provider in ProviderId::ALL {
            let name = provider.entry().base_url_variable;
            if let Some(url) = set(name) {
                settings
                    .set_base_url(provider, url.trim())
                    .map_err(|reason| KeyTestConfigError {
                        name: name.to_owned(),
                        reason,
                    })?;
            }
        }
        Ok(settings)
    }

    /// Points one provider's checks at `url` (https, or http on loopback). For a
    /// provider whose keys belong to a user-given endpoint, this is the endpoint
    /// used when the user gives none.
    pub fn set_base_url(&mut self, provider: ProviderId, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url).map_err(|_| "must be an absolute URL".to_owned())?;
        let loopback = is_loopback_host(parsed.host_str().unwrap_or_default());
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err("must be https (http only on loopback)".into()),
        }
        self.base_urls[provider as usize] = Some(url.trim_end_matches('/').to_owned());
        Ok(())
    }

    /// The base URL of a provider's checks; `None` when only a user-given endpoint
    /// can say where its keys belong.
    pub fn base_url(&self, provider: ProviderId) -> Option<&str> {
        self.base_urls[provider as usize].as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        let mut s = KeyTestSettings::default();
        assert!(s
            .set_base_url(ProviderId::OpenAi, "http://127.0.0.1:8080")
            .is_ok());
        assert!(s
            .set_base_url(ProviderId::OpenAi, "http://localhost:8080/")
            .is_ok());
        assert!(s
            .set_base_url(ProviderId::OpenAi, "https://proxy.example.com")
            .is_ok());
        assert!(s
            .set_base_url(ProviderId::OpenAi, "http://proxy.example.com")
            .is_err());
        assert!(s
            .set_base_url(ProviderId::OpenAi, "ftp://127.0.0.1")
            .is_err());
    }

    #[test]
    fn base_url_variables_follow_the_provider_ids() {
        assert_eq!(
            base_url_variable(ProviderId::GoogleAi),
            "APIKEYS_GOOGLE_AI_BASE_URL"
        );
        assert_eq!(
            base_url_variable(ProviderId::OpenAi),
            "APIKEYS_OPENAI_BASE_URL"
        );
    }

    #[test]
    fn the_environment_sets_base_urls_and_the_loopback_opt_in() {
        let env = |name: &str| match name {
            "APIKEYS_AZURE_OPENAI_BASE_URL" => Some("https://res.openai.azure.com/".into()),
            ALLOW_LOOPBACK_ENDPOINTS => Some("TRUE".into()),
            _ => None,
        };
        let s = KeyTestSettings::from_lookup(&env).unwrap();
        assert_eq!(
            s.base_url(ProviderId::AzureOpenAi),
            Some("https://res.openai.azure.com")
        );
        assert_eq!(s.base_url(ProviderId::OpenAiCompatible), None);
        assert_eq!(s.base_url(ProviderId::Groq), Some("https://api.groq.com"));
        assert!(s.allow_loopback_endpoints);
        let bad = KeyTestSettings::from_lookup(&|n: &str| {
            (n == ALLOW_LOOPBACK_ENDPOINTS).then(|| "yes".to_owned())
        });
        assert_eq!(bad.unwrap_err().name, ALLOW_LOOPBACK_ENDPOINTS);
    }
}
