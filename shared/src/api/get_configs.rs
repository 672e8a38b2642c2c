//! The get-configs function: what it serves.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::edge::router::{serve_table, Route};
use super::routes::{keys, list_configs, providers};
use crate::state::State;

/// The routes of get-configs.
pub static ROUTES: &[Route<State>] = &[
    Route {
        method: Method::GET,
        pattern: "/api/provider-configs",
        serve: |state, req, _| Box::pin(list_configs::handle(state, req)),
    },
    Route {
        method: Method::GET,
        pattern: "/api/provider-configs/{provider}/keys",
        serve: |state, req, path| Box::pin(keys::list(state, req, path)),
    },
    Route {
        method: Method::GET,
        pattern: "/api/providers",
        serve: |_, req, _| Box::pin(providers::handle(req)),
    },
];

/// Serves one request of get-configs.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    serve_table(ROUTES, state, req).await
}
