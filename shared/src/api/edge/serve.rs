//! The one wrapper around every route: the request id, the identity check, the
//! audit line and the answer to an error, so a route holds only its own work.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use super::audit::Audit;
use super::error::ApiError;
use super::identity::UserId;

/// What the log and the error body need to know of a request.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// API Gateway's request id, else Lambda's, else a fresh one.
    pub request_id: String,
}

impl RequestMeta {
    /// Reads the request id of `req`.
    pub fn of(req: &Request) -> Self {
        let from_gateway = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
            Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
            _ => None,
        };
        let request_id = from_gateway
            .filter(|id| !id.is_empty())
            .or_else(|| {
                req.lambda_context_ref()
                    .map(|c| c.request_id.clone())
                    .filter(|id| !id.is_empty())
            })
            .unwrap_or_else(|| format!("local-{}", uuid::Uuid::new_v4()));
        Self { request_id }
    }
}

/// What a route is handed besides the request: the authenticated user and the
/// audit trail to fill in.
pub(crate) struct Call {
    /// Who asks.
    pub(crate) user: UserId,
    /// What the audit line will say.
    pub(crate) audit: Audit,
}

/// Runs `route` for an authenticated request and answers: a route's error becomes
/// its response here, and one audit line records the outcome. `event` names the
/// request in the audit trail (e.g. `api_key.store`).
pub(crate) async fn serve<F>(req: Request, event: &'static str, route: F) -> Response<Body>
where
    F: AsyncFnOnce(&Request, &mut Call) -> Result<Response<Body>, ApiError>,
{
    let meta = RequestMeta::of(&req);
    let mut audit = Audit::new(event);
    let result = match UserId::of_request(&req) {
        None => Err(ApiError::Unauthorized),
        Some(user) => {
            audit.user(&user);
            let mut call = Call { user, audit };
            let result = route(&req, &mut call).await;
            audit = call.audit;
            result
        }
    };
    let response = result.unwrap_or_else(|err| err.into_response(&meta.request_id));
    audit.write(response.status().as_u16(), &meta.request_id);
    // The body may have carried a key: overwritten before its memory is freed.
    let mut req = req;
    crate::wipe::wipe_request(&mut req);
    response
}
