//! The local HTTP API of apikeys: one base URL (`http://127.0.0.1:3000`) routed as the
//! deployed HTTP API is, in front of the functions `cargo lambda watch` serves.
//!
//! `cargo lambda watch` emulates the Lambda invoke API and function URLs, but its own
//! router takes routes from Cargo metadata, sends every event with the route key
//! `$default` and no authorizer context, answers unknown paths with the default
//! function, and allows any origin. So this API reads the routes and CORS of
//! `template.yaml`, verifies tokens as the JWT authorizer does, builds payload 2.0
//! events, and uses the watcher only to invoke the functions.
//!
//! - [`template`] (with [`cfn`]): routes, identity source and CORS from the template.
//! - [`routes`]: which route a request takes.
//! - [`authorizer`] (with [`jwks`]): JWT verification against the issuer's keys.
//! - [`event`]: the payload 2.0 event; [`answer`]: the function's answer as HTTP.
//! - [`invoke`]: the watcher's invoke API.
//! - [`cors`]: preflight and CORS headers.
//! - [`gateway`]: one request through all of that; [`local`]: JWKS, dev tokens, page.
//! - [`config`], [`app`]: settings and the state built from them.

pub mod answer;
/// The issuer's key sets.
pub use apikeys::usertoken::jwks;
/// The JWT authorizer: the vault's own verifier of users' tokens.
pub use apikeys::usertoken::verify as authorizer;
pub mod app;
pub mod cfn;
pub mod config;
pub mod cors;
pub mod event;
pub mod gateway;
pub mod invoke;
pub mod local;
pub mod routes;
pub mod template;

use std::net::SocketAddr;
use std::sync::Arc;

pub use app::{App, StartError};
pub use config::{IssuerSetting, Settings};

/// The router: every request goes through [`gateway::dispatch`].
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .fallback(gateway::dispatch)
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
