//! What the local API builds once at start-up: the routes and CORS of the template,
//! the authorizer for the configured issuer, the invoke client, the local issuer (when
//! it is the one in use) and the static page.

use std::path::PathBuf;

use apikeys_admin::issuer::{IssuerError, LocalIssuer};
use axum::http::HeaderName;

use crate::authorizer::JwtAuthorizer;
use crate::cfn::TemplateError;
use crate::config::{IssuerSetting, Settings};
use crate::cors::CorsConfig;
use crate::invoke::Invoker;
use crate::jwks::{FetchedKeys, KeySet, KeySource};
use crate::routes::RouteTable;
use crate::template::ApiDefinition;

/// Paths the local API answers itself; no template route may use them.
pub const RESERVED_PREFIXES: &[&str] = &["/.well-known/", "/local/"];

/// Why the local API cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The template could not be read.
    #[error("cannot read {path}: {source}")]
    TemplateFile {
        /// The template.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The template is not usable.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The local issuer is missing or broken.
    #[error("{0}")]
    Issuer(#[from] IssuerError),
    /// A template route collides with a path of the local API.
    #[error("route {0} uses a path the local API keeps for itself")]
    ReservedPath(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// The local API's state.
pub struct App {
    /// The routes of the template.
    pub routes: RouteTable,
    /// The functions behind streaming function URLs, served under `/{binary}/`.
    pub streaming_urls: Vec<String>,
    /// Its CORS configuration, if any.
    pub cors: Option<CorsConfig>,
    /// The header the authorizer reads.
    pub identity_header: HeaderName,
    /// The JWT authorizer.
    pub authorizer: JwtAuthorizer,
    /// The invoke client.
    pub invoker: Invoker,
    /// The local issuer, when it is the issuer in use (serves its JWKS and dev tokens).
    pub local_issuer: Option<LocalIssuer>,
    /// The directory of the static page, when it exists.
    pub web_dir: Option<PathBuf>,
}

impl App {
    /// Builds the state from the settings.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        let text = tokio::fs::read_to_string(&settings.template)
            .await
            .map_err(|source| StartError::TemplateFile {
                path: settings.template.clone(),
                source,
            })?;
        let origins = settings.cors_allowed_origins.clone();
        let api = ApiDefinition::from_template(&text, &|name| {
            (name == "CorsAllowedOrigins")
                .then(|| origins.clone())
                .flatten()
        })?;
        if let Some(route) = api
            .routes
            .iter()
            .find(|r| RESERVED_PREFIXES.iter().any(|p| r.path.starts_with(p)))
        {
            return Err(StartError::ReservedPath(route.route_key()));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StartError::Client(e.to_string()))?;
        let (authorizer, local_issuer) = match &settings.issuer {
            IssuerSetting::Local { dir } => {
                let issuer = LocalIssuer::load(dir)?;
                let info = issuer.info();
                let authorizer = JwtAuthorizer::new(
                    info.issuer.clone(),
                    vec![info.audience.clone()],
                    KeySource::Fixed(KeySet::from_jwks(issuer.jwks())),
                );
                (authorizer, Some(issuer))
            }
            IssuerSetting::External {
                issuer,
                audiences,
                jwks,
            } => {
                let keys = KeySource::Fetched(FetchedKeys::new(client.clone(), jwks.clone()));
                (
                    JwtAuthorizer::new(issuer.clone(), audiences.clone(), keys),
                    None,
                )
            }
        };
        let identity_header = HeaderName::from_bytes(api.identity_header.as_bytes())
            .map_err(|_| TemplateError::Shape("the identity source is not a header name".into()))?;
        Ok(Self {
            routes: RouteTable::new(api.routes),
            streaming_urls: api.streaming_urls,
            cors: api.cors,
            identity_header,
            authorizer,
            invoker: Invoker::new(client, &settings.invoke_url, settings.invoke_timeout),
            local_issuer,
            web_dir: settings.web_dir.is_dir().then(|| settings.web_dir.clone()),
        })
    }
}
