//! The delete-config function: what it serves.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::edge::router::{serve_table, Route};
use super::routes::{delete_config, keys};
use crate::state::State;

/// The routes of delete-config.
pub static ROUTES: &[Route<State>] = &[
    Route {
        method: Method::DELETE,
        pattern: "/api/provider-configs/{provider}",
        serve: |state, req, path| Box::pin(delete_config::handle(state, req, path)),
    },
    Route {
        method: Method::DELETE,
        pattern: "/api/provider-configs/{provider}/keys/{keyId}",
        serve: |state, req, path| Box::pin(keys::delete(state, req, path)),
    },
];

/// Serves one request of delete-config.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    serve_table(ROUTES, state, req).await
}
