//! Who is asking: only ever from the authorizer context of API Gateway (locally, the
//! local API's JWT authorizer fills in the same context). Never from the body or a
//! header, in any environment.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

const MAX_USER_ID_LEN: usize = 256;

/// An authenticated user id (the JWT `sub` or the authorizer's user id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId(String);

impl UserId {
    /// Accepts a non-empty id of at most 256 bytes without control characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let id = raw.trim();
        (!id.is_empty() && id.len() <= MAX_USER_ID_LEN && !id.chars().any(char::is_control))
            .then(|| Self(id.to_owned()))
    }

    /// The user of a request from its authorizer context, or `None` (401).
    pub fn of_request(req: &Request) -> Option<Self> {
        from_authorizer(req)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn string_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}

fn from_authorizer(req: &Request) -> Option<UserId> {
    match req.request_context_ref()? {
        // HTTP API: JWT authorizer claims, else a Lambda authorizer's context.
        RequestContext::ApiGatewayV2(ctx) => {
            let auth = ctx.authorizer.as_ref()?;
            let jwt_sub = auth
                .jwt
                .as_ref()
                .and_then(|jwt| jwt.claims.get("sub"))
                .map(String::as_str);
            let lambda = || {
                ["userId", "sub"]
                    .iter()
                    .find_map(|k| auth.fields.get(*k).and_then(Value::as_str))
            };
            jwt_sub.or_else(lambda).and_then(UserId::parse)
        }
        // REST API: Cognito user pool claims, else a Lambda authorizer's context.
        RequestContext::ApiGatewayV1(ctx) => {
            let fields = &ctx.authorizer.fields;
            fields
                .get("claims")
                .and_then(|claims| string_at(claims, &["sub"]))
                .or_else(|| {
                    ["userId", "principalId"]
                        .iter()
                        .find_map(|k| fields.get(*k).and_then(Value::as_str))
                })
                .and_then(UserId::parse)
        }
        _ => None,
    }
}
