//! The local API's settings, from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `APIKEYS_LOCAL_API_PORT` | 3000 | port on 127.0.0.1 |
//! | `APIKEYS_INVOKE_URL` | `http://127.0.0.1:9000` | the invoke API of `cargo lambda watch` |
//! | `APIKEYS_INVOKE_TIMEOUT_SECONDS` | 600 | wait for a function (the first build takes minutes) |
//! | `APIKEYS_TEMPLATE` | `template.yaml` | where the routes come from |
//! | `APIKEYS_WEB_DIR` | `web` | static files served at `/` (when the directory exists) |
//! | `APIKEYS_CORS_ALLOWED_ORIGINS` | the template's default | the `CorsAllowedOrigins` parameter |
//! | `APIKEYS_LOCAL_ISSUER_DIR` | `.local/issuer` | the local issuer (`apikeys-admin provision`) |
//! | `APIKEYS_JWT_ISSUER` | unset | another issuer instead (e.g. a Cognito user pool) |
//! | `APIKEYS_JWT_AUDIENCE` | unset | its audiences (app client ids), comma-separated |
//! | `APIKEYS_JWT_JWKS_URL` | discovery | its JWKS URL; else `{issuer}/.well-known/openid-configuration` |

use std::path::PathBuf;
use std::time::Duration;

use apikeys_admin::issuer::DEFAULT_ISSUER_DIR;

use crate::jwks::JwksLocation;

/// Whose tokens the local API accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerSetting {
    /// The local issuer in this directory (it also mints development tokens).
    Local {
        /// Its directory.
        dir: PathBuf,
    },
    /// Another issuer, e.g. a Cognito user pool.
    External {
        /// Its `iss`.
        issuer: String,
        /// The accepted `aud` / `client_id` values.
        audiences: Vec<String>,
        /// Where its keys are.
        jwks: JwksLocation,
    },
}

/// Everything the local API is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The invoke API of the watcher.
    pub invoke_url: String,
    /// How long an invocation may take.
    pub invoke_timeout: Duration,
    /// The SAM template.
    pub template: PathBuf,
    /// The static files of the key manager page.
    pub web_dir: PathBuf,
    /// An override of the template's `CorsAllowedOrigins` parameter.
    pub cors_allowed_origins: Option<String>,
    /// Whose tokens pass.
    pub issuer: IssuerSetting,
}

/// A setting that cannot be used: the vault's own settings error (the variable, and
/// why), so the issuer variables read by the shared parser report the same way.
pub use apikeys::settings::SettingsError as SettingError;

impl Settings {
    /// The settings `get` (the environment) gives.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let number = |name: &'static str, default: u64| -> Result<u64, SettingError> {
            get(name).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| SettingError::new(name, format!("{v:?} is not a number")))
            })
        };
        let port = u16::try_from(number("APIKEYS_LOCAL_API_PORT", 3000)?)
            .map_err(|_| SettingError::new("APIKEYS_LOCAL_API_PORT", "not a port"))?;
        // Another issuer is read as use-key reads it (`APIKEYS_JWT_*`): one parser.
        let external = apikeys::usertoken::IssuerSettings::from_lookup(&get)?;
        let issuer = match external {
            None => IssuerSetting::Local {
                dir: get("APIKEYS_LOCAL_ISSUER_DIR")
                    .unwrap_or_else(|| DEFAULT_ISSUER_DIR.to_owned())
                    .into(),
            },
            Some(apikeys::usertoken::IssuerSettings {
                issuer,
                audiences,
                jwks,
            }) => IssuerSetting::External {
                issuer,
                audiences,
                jwks,
            },
        };
        Ok(Self {
            port,
            invoke_url: get("APIKEYS_INVOKE_URL").unwrap_or_else(|| "http://127.0.0.1:9000".into()),
            invoke_timeout: Duration::from_secs(number("APIKEYS_INVOKE_TIMEOUT_SECONDS", 600)?),
            template: get("APIKEYS_TEMPLATE")
                .unwrap_or_else(|| "template.yaml".into())
                .into(),
            web_dir: get("APIKEYS_WEB_DIR")
                .unwrap_or_else(|| "web".into())
                .into(),
            cors_allowed_origins: get("APIKEYS_CORS_ALLOWED_ORIGINS"),
            issuer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(&|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_use_the_local_issuer_on_port_3000() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.port, 3000);
        assert_eq!(s.invoke_url, "http://127.0.0.1:9000");
        assert_eq!(
            s.issuer,
            IssuerSetting::Local {
                dir: DEFAULT_ISSUER_DIR.into()
            }
        );
    }

    #[test]
    fn another_issuer_is_one_setting_with_its_audience() {
        let s = settings(&[
            (
                "APIKEYS_JWT_ISSUER",
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X",
            ),
            ("APIKEYS_JWT_AUDIENCE", "client-a, client-b"),
        ])
        .unwrap();
        let IssuerSetting::External {
            audiences, jwks, ..
        } = s.issuer
        else {
            panic!("not external")
        };
        assert_eq!(audiences, ["client-a", "client-b"]);
        assert!(matches!(jwks, JwksLocation::Discovery { .. }));
        let err = settings(&[("APIKEYS_JWT_ISSUER", "https://x.example")]).unwrap_err();
        assert_eq!(err.name, "APIKEYS_JWT_AUDIENCE");
        assert_eq!(
            settings(&[("APIKEYS_LOCAL_API_PORT", "http")])
                .unwrap_err()
                .name,
            "APIKEYS_LOCAL_API_PORT"
        );
    }
}
