//! The store function: what it serves (everything that seals a key or moves one).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::edge::router::{serve_table, Route};
use super::routes::{add_key, store_config, update_key};
use crate::sealing_state::SealingState;

/// The routes of store.
pub static ROUTES: &[Route<SealingState>] = &[
    Route {
        method: Method::POST,
        pattern: "/api/provider-configs",
        serve: |state, req, _| Box::pin(store_config::handle(state, req)),
    },
    Route {
        method: Method::POST,
        pattern: "/api/provider-configs/{provider}/keys",
        serve: |state, req, path| Box::pin(add_key::handle(state, req, path)),
    },
    Route {
        method: Method::PUT,
        pattern: "/api/provider-configs/{provider}/keys/{keyId}",
        serve: |state, req, path| Box::pin(update_key::handle(state, req, path)),
    },
];

/// Serves one request of store.
pub async fn handle(state: &SealingState, req: Request) -> Response<Body> {
    serve_table(ROUTES, state, req).await
}
