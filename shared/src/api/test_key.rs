//! The test-key function: what it serves.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::edge::router::{serve_table, Route};
use super::routes::test_key;
use crate::sealing_state::SealingState;

/// The routes of test-key.
pub static ROUTES: &[Route<SealingState>] = &[Route {
    method: Method::POST,
    pattern: "/api/test-api-key",
    serve: |state, req, _| Box::pin(test_key::handle(state, req)),
}];

/// Serves one request of test-key.
pub async fn handle(state: &SealingState, req: Request) -> Response<Body> {
    serve_table(ROUTES, state, req).await
}
