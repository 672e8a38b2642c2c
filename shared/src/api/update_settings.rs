//! The update-settings function: what it serves.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::edge::router::{serve_table, Route};
use super::routes::update_settings;
use crate::state::State;

/// The routes of update-settings.
pub static ROUTES: &[Route<State>] = &[Route {
    method: Method::PUT,
    pattern: "/api/provider-configs",
    serve: |state, req, _| Box::pin(update_settings::handle(state, req)),
}];

/// Serves one request of update-settings.
pub async fn handle(state: &State, req: Request) -> Response<Body> {
    serve_table(ROUTES, state, req).await
}
