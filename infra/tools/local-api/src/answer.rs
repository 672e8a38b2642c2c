//! A function's payload 2.0 answer turned back into HTTP, as API Gateway does it: the
//! `statusCode`, `headers` (and `multiValueHeaders`), each of `cookies` as a
//! `set-cookie` header, and the `body` (decoded when `isBase64Encoded`). Valid JSON
//! without a `statusCode` is a 200 `application/json` answer with that JSON as body.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>

use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

/// An HTTP answer before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: axum::http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a function's output is not an answer API Gateway could send (it answers 500).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MalformedAnswer {
    /// Not JSON at all.
    #[error("the function's output is not JSON")]
    NotJson,
    /// `statusCode` is not an HTTP status.
    #[error("statusCode {0} is not an HTTP status")]
    Status(String),
    /// A header name or value is not valid HTTP.
    #[error("header {0:?} is not valid HTTP")]
    Header(String),
    /// `body` is not base64 although `isBase64Encoded` says so.
    #[error("the body is not base64 although isBase64Encoded is true")]
    Base64,
}

/// Turns a function's output into the HTTP answer.
pub fn from_output(output: &[u8]) -> Result<Answer, MalformedAnswer> {
    let value: Value = serde_json::from_slice(output).map_err(|_| MalformedAnswer::NotJson)?;
    let Some(status) = value.as_object().and_then(|o| o.get("statusCode")) else {
        // No statusCode: the output itself is the body.
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(Answer {
            status: StatusCode::OK,
            headers,
            body: output.to_vec(),
        });
    };
    let status = status
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| MalformedAnswer::Status(status.to_string()))?;

    let mut headers = axum::http::HeaderMap::new();
    if let Some(map) = value.get("headers").and_then(Value::as_object) {
        for (name, v) in map {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            headers.insert(header_name(name)?, header_value(name, &text)?);
        }
    }
    if let Some(map) = value.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in map {
            let key = header_name(name)?;
            for v in values.as_array().into_iter().flatten() {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                let v = header_value(name, &text)?;
                if !headers.get_all(&key).iter().any(|present| *present == v) {
                    headers.append(key.clone(), v);
                }
            }
        }
    }
    for cookie in value
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        headers.append(SET_COOKIE, header_value("set-cookie", cookie)?);
    }

    let body = match value.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if value["isBase64Encoded"] == Value::Bool(true) => {
            STANDARD.decode(text).map_err(|_| MalformedAnswer::Base64)?
        }
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn header_name(name: &str) -> Result<HeaderName, MalformedAnswer> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| MalformedAnswer::Header(name.to_owned()))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, MalformedAnswer> {
    HeaderValue::from_str(value).map_err(|_| MalformedAnswer::Header(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(value: Value) -> Answer {
        from_output(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn status_headers_cookies_and_body() {
        let a = answer(json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-one": "1"},
            "multiValueHeaders": {"x-many": ["a", "b"]},
            "cookies": ["s=1; Path=/", "t=2"],
            "body": "{\"ok\":true}",
            "isBase64Encoded": false
        }));
        assert_eq!(a.status, StatusCode::CREATED);
        assert_eq!(a.headers["content-type"], "application/json");
        assert_eq!(a.headers["x-one"], "1");
        let many: Vec<_> = a.headers.get_all("x-many").iter().collect();
        assert_eq!(many, ["a", "b"]);
        let cookies: Vec<_> = a.headers.get_all(SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["s=1; Path=/", "t=2"]);
        assert_eq!(a.body, b"{\"ok\":true}");
    }

    #[test]
    fn a_base64_body_is_decoded_and_an_empty_one_stays_empty() {
        let a = answer(json!({"statusCode": 200, "body": "//4A", "isBase64Encoded": true}));
        assert_eq!(a.body, [0xff, 0xfe, 0x00]);
        let a = answer(json!({"statusCode": 204, "headers": {}, "multiValueHeaders": {}}));
        assert_eq!(a.status, StatusCode::NO_CONTENT);
        assert!(a.body.is_empty());
    }

    #[test]
    fn json_without_status_code_is_a_200_json_body() {
        let a = answer(json!({"hello": "world"}));
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.headers["content-type"], "application/json");
        assert_eq!(a.body, br#"{"hello":"world"}"#);
    }

    #[test]
    fn malformed_outputs_are_refused() {
        assert_eq!(from_output(b"not json"), Err(MalformedAnswer::NotJson));
        assert!(matches!(
            from_output(br#"{"statusCode": 42}"#),
            Err(MalformedAnswer::Status(_))
        ));
        assert_eq!(
            from_output(br#"{"statusCode": 200, "body": "%%", "isBase64Encoded": true}"#),
            Err(MalformedAnswer::Base64)
        );
    }
}
