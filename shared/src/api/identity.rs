//! Who is asking: only ever from the authorizer context of API Gateway.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

use crate::aws::running_in_aws_lambda_from;

/// The header a local request may name its user in, when the local opt-in is on.
pub const LOCAL_USER_HEADER: &str = "x-apikeys-local-user";

/// The variable that switches the local opt-in on: its name says what it does.
pub const LOCAL_USER_HEADER_OPT_IN: &str = "APIKEYS_INSECURE_TRUST_LOCAL_USER_HEADER";

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

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where identity may come from.
///
/// `cargo lambda watch` and `sam local` run no authorizer, so for local use an
/// operator may set `APIKEYS_INSECURE_TRUST_LOCAL_USER_HEADER=true` to take the user
/// id from the `x-apikeys-local-user` header. That opt-in is ignored (and an error
/// logged) inside AWS Lambda, where AWS sets the reserved `AWS_EXECUTION_ENV`
/// variable, which no function configuration can change; the SAM template never
/// sets the opt-in either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdentityPolicy {
    trust_local_user_header: bool,
}

impl IdentityPolicy {
    /// Identity only from the authorizer context.
    pub fn authorizer_only() -> Self {
        Self::default()
    }

    /// Reads the opt-in through `get` (the environment), refusing it inside AWS
    /// Lambda as told by the same `get`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Self {
        let wanted =
            get(LOCAL_USER_HEADER_OPT_IN).is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        if wanted && running_in_aws_lambda_from(get) {
            tracing::error!(
                event = "identity.local_header_refused",
                "{LOCAL_USER_HEADER_OPT_IN} is set inside AWS Lambda and is ignored"
            );
            return Self::default();
        }
        if wanted {
            tracing::warn!(
                event = "identity.local_header_trusted",
                "INSECURE: user ids are taken from the {LOCAL_USER_HEADER} header (local development only)"
            );
        }
        Self {
            trust_local_user_header: wanted,
        }
    }

    /// Whether the local header is trusted.
    pub fn trusts_local_header(&self) -> bool {
        self.trust_local_user_header
    }

    /// The user of a request, or `None` (401).
    pub fn identify(&self, req: &Request) -> Option<UserId> {
        from_authorizer(req).or_else(|| {
            if !self.trust_local_user_header {
                return None;
            }
            req.headers()
                .get(LOCAL_USER_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(UserId::parse)
        })
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
