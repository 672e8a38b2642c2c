//! An HTTP request as API Gateway hands it to a Lambda function: the HTTP API
//! payload format 2.0 event.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>
//!
//! Header names are lowercase and duplicates joined with commas; cookies move from the
//! `cookie` header to `cookies`; duplicate query parameters are joined with commas; a
//! body that is not UTF-8 travels base64-encoded with `isBase64Encoded: true`; the JWT
//! authorizer's claims arrive as strings under `requestContext.authorizer.jwt`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::http::{HeaderMap, Method};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::routes::Matched;

/// Headers never passed to a function. The local user header was an insecure local
/// opt-in of the functions; here identity comes only from a verified token.
pub const STRIPPED_HEADERS: &[&str] = &["x-apikeys-local-user"];

/// The account and API id local events carry.
pub const LOCAL_ACCOUNT_ID: &str = "000000000000";
/// The API id of the local API.
pub const LOCAL_API_ID: &str = "local";

/// What the event is built from.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The path as received (still percent-encoded).
    pub raw_path: &'a str,
    /// The query string as received, without `?`.
    pub raw_query: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The request body.
    pub body: &'a [u8],
    /// The client's address.
    pub source_ip: IpAddr,
}

/// What the authorizer verified: the token's claims and scopes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Authorization {
    /// The claims, each a string as API Gateway passes them.
    pub claims: BTreeMap<String, String>,
    /// The token's scopes (`scope` or `scp`), when it has any.
    pub scopes: Option<Vec<String>>,
}

impl Authorization {
    /// The claims of a verified token in API Gateway's form: strings as they are,
    /// numbers and booleans as text, arrays as `[a b]`, objects as JSON.
    pub fn from_claims(claims: &Map<String, Value>) -> Self {
        let text = |value: &Value| match value {
            Value::String(s) => s.clone(),
            Value::Array(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect();
                format!("[{}]", items.join(" "))
            }
            other => other.to_string(),
        };
        let scopes = match claims.get("scope").or_else(|| claims.get("scp")) {
            Some(Value::String(s)) => Some(s.split_whitespace().map(str::to_owned).collect()),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => None,
        };
        Self {
            claims: claims.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
            scopes,
        }
    }
}

/// The payload 2.0 event for a request that matched `matched`.
pub fn build(
    incoming: &Incoming<'_>,
    matched: &Matched<'_>,
    authorization: Option<&Authorization>,
    request_id: &str,
    now: OffsetDateTime,
) -> Value {
    let route_key = matched.route.route_key();
    let mut headers = Map::new();
    for name in incoming.headers.keys() {
        let name = name.as_str();
        if name == "cookie" || STRIPPED_HEADERS.contains(&name) {
            continue;
        }
        let joined: Vec<String> = incoming
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        headers.insert(name.to_owned(), Value::String(joined.join(",")));
    }
    let source_ip = incoming.source_ip.to_string();
    headers
        .entry("x-forwarded-for")
        .or_insert_with(|| Value::String(source_ip.clone()));
    headers
        .entry("x-forwarded-proto")
        .or_insert_with(|| Value::String("http".into()));

    let cookies: Vec<String> = incoming
        .headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();

    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(incoming.raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .or_default()
            .push(v.into_owned());
    }
    let query: Map<String, Value> = query
        .into_iter()
        .map(|(k, v)| (k, Value::String(v.join(","))))
        .collect();

    let (body, is_base64) = match std::str::from_utf8(incoming.body) {
        _ if incoming.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(STANDARD.encode(incoming.body)), true),
    };

    let host = headers
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("127.0.0.1")
        .to_owned();
    let domain_prefix = host.split(['.', ':']).next().unwrap_or_default().to_owned();
    let user_agent = headers
        .get("user-agent")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    let mut context = json!({
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": host,
        "domainPrefix": domain_prefix,
        "http": {
            "method": incoming.method.as_str(),
            "path": incoming.raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": user_agent,
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": request_time(now),
        "timeEpoch": now.unix_timestamp_nanos() / 1_000_000,
    });
    if let Some(auth) = authorization {
        context["authorizer"] = json!({
            "jwt": { "claims": auth.claims, "scopes": auth.scopes }
        });
    }

    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": incoming.raw_path,
        "rawQueryString": incoming.raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": is_base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !matched.params.is_empty() {
        event["pathParameters"] = json!(matched.params);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// `requestContext.time`: `12/Mar/2020:19:03:58 +0000`.
fn request_time(now: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    now.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Route, RouteTable};
    use axum::http::HeaderValue;

    fn table() -> RouteTable {
        RouteTable::new(vec![Route {
            method: "DELETE".into(),
            path: "/api/provider-configs/{provider}".into(),
            function: "delete-config".into(),
            authorized: true,
        }])
    }

    fn event(headers: &HeaderMap, query: &str, body: &[u8], auth: Option<&Authorization>) -> Value {
        let table = table();
        let matched = table
            .find("DELETE", "/api/provider-configs/open%2Dai")
            .unwrap();
        let incoming = Incoming {
            method: &Method::DELETE,
            raw_path: "/api/provider-configs/open%2Dai",
            raw_query: query,
            headers,
            body,
            source_ip: "127.0.0.1".parse().unwrap(),
        };
        let now = OffsetDateTime::from_unix_timestamp(1_795_582_800).unwrap();
        build(&incoming, &matched, auth, "req-1", now)
    }

    #[test]
    fn route_key_path_parameters_and_context() {
        let e = event(&HeaderMap::new(), "", b"", None);
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "DELETE /api/provider-configs/{provider}");
        assert_eq!(e["rawPath"], "/api/provider-configs/open%2Dai");
        assert_eq!(e["pathParameters"]["provider"], "open-ai");
        let ctx = &e["requestContext"];
        assert_eq!(ctx["routeKey"], e["routeKey"]);
        assert_eq!(ctx["stage"], "$default");
        assert_eq!(ctx["requestId"], "req-1");
        assert_eq!(ctx["http"]["method"], "DELETE");
        assert_eq!(ctx["time"], "25/Nov/2026:05:00:00 +0000");
        assert_eq!(ctx["timeEpoch"], 1_795_582_800_000_i64);
        assert!(ctx.get("authorizer").is_none());
        assert!(e.get("body").is_none());
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn headers_are_joined_cookies_split_and_the_local_user_header_dropped() {
        let mut headers = HeaderMap::new();
        headers.append("x-thing", HeaderValue::from_static("a"));
        headers.append("x-thing", HeaderValue::from_static("b"));
        headers.append("cookie", HeaderValue::from_static("s=1; t=2"));
        headers.append("x-apikeys-local-user", HeaderValue::from_static("mallory"));
        let e = event(&headers, "", b"", None);
        assert_eq!(e["headers"]["x-thing"], "a,b");
        assert_eq!(e["cookies"], json!(["s=1", "t=2"]));
        assert!(e["headers"].get("cookie").is_none());
        assert!(e["headers"].get("x-apikeys-local-user").is_none());
        assert_eq!(e["headers"]["x-forwarded-for"], "127.0.0.1");
    }

    #[test]
    fn query_parameters_are_decoded_and_duplicates_joined() {
        let e = event(&HeaderMap::new(), "a=1&b=x%20y&a=2", b"", None);
        assert_eq!(e["rawQueryString"], "a=1&b=x%20y&a=2");
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
    }

    #[test]
    fn a_non_utf8_body_is_base64() {
        let e = event(&HeaderMap::new(), "", &[0xff, 0xfe, 0x00], None);
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "//4A");
        let e = event(&HeaderMap::new(), "", "{\"é\":1}".as_bytes(), None);
        assert_eq!(e["isBase64Encoded"], false);
        assert_eq!(e["body"], "{\"é\":1}");
    }

    #[test]
    fn claims_arrive_as_strings_with_scopes() {
        let claims = json!({
            "sub": "alice", "exp": 1_700_000_000, "email_verified": true,
            "cognito:groups": ["admin", "ops"], "scope": "read write"
        });
        let auth = Authorization::from_claims(claims.as_object().unwrap());
        let e = event(&HeaderMap::new(), "", b"", Some(&auth));
        let jwt = &e["requestContext"]["authorizer"]["jwt"];
        assert_eq!(jwt["claims"]["sub"], "alice");
        assert_eq!(jwt["claims"]["exp"], "1700000000");
        assert_eq!(jwt["claims"]["email_verified"], "true");
        assert_eq!(jwt["claims"]["cognito:groups"], "[admin ops]");
        assert_eq!(jwt["scopes"], json!(["read", "write"]));
        let none = Authorization::from_claims(json!({"sub": "a"}).as_object().unwrap());
        assert_eq!(none.scopes, None);
    }
}
