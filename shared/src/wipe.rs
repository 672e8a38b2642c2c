//! Wiping what held a plaintext once it has been used: a request's body, the JSON
//! parsed from it, and use-key's answer. Each string is overwritten with zeroes
//! (`zeroize`, which the compiler may not optimise away) before its memory is freed.
//!
//! What is out of reach: copies the Lambda runtime made before the function got the
//! event (the event's JSON text) and after it returned its answer (the serialised
//! response), and header values (`http::HeaderValue` is immutable and may be shared);
//! the functions never read the `Authorization` header (identity comes from the
//! authorizer's claims), and drop it unread.

use lambda_http::{Body, Request};
use serde::{Serialize, Serializer};
use serde_json::Value;
use zeroize::Zeroize;

/// Overwrites every string of `value` (object keys included) and empties it.
pub fn wipe_value(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => {
            for item in items.iter_mut() {
                wipe_value(item);
            }
            items.clear();
        }
        Value::Object(map) => {
            for (mut key, mut item) in std::mem::take(map) {
                key.zeroize();
                wipe_value(&mut item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Overwrites the body of `req` and removes its `Authorization` header.
pub fn wipe_request(req: &mut Request) {
    match req.body_mut() {
        Body::Text(text) => text.zeroize(),
        Body::Binary(bytes) => bytes.zeroize(),
        _ => {}
    }
    *req.body_mut() = Body::Empty;
    req.headers_mut()
        .remove(lambda_http::http::header::AUTHORIZATION);
}

/// A JSON answer that is wiped when dropped: the runtime serialises it, then drops
/// it, and the plaintext it carried goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WipedOnDrop(pub Value);

impl Serialize for WipedOnDrop {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl Drop for WipedOnDrop {
    fn drop(&mut self) {
        wipe_value(&mut self.0);
    }
}

impl zeroize::ZeroizeOnDrop for WipedOnDrop {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::String(s) => found.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| strings(v, found)),
            Value::Object(map) => {
                for (k, v) in map {
                    found.push(k.clone());
                    strings(v, found);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn a_wiped_value_keeps_no_string() {
        let mut value = json!({
            "apiKey": "sk-proj-Secret0123456789",
            "settings": {"nested": ["sk-ant-api03-Other", 3, true, null]},
        });
        wipe_value(&mut value);
        let mut left = Vec::new();
        strings(&value, &mut left);
        assert!(left.iter().all(String::is_empty), "{left:?}");
        assert!(!value.to_string().contains("Secret"), "{value}");
    }

    #[test]
    fn a_wiped_request_has_no_body_and_no_authorization() {
        for body in [
            Body::Text(r#"{"apiKey":"sk-proj-Secret0123456789"}"#.to_owned()),
            Body::Binary(br#"{"apiKey":"sk-proj-Secret0123456789"}"#.to_vec()),
        ] {
            let mut req = lambda_http::http::Request::builder()
                .header("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig")
                .body(body)
                .unwrap();
            wipe_request(&mut req);
            assert!(matches!(req.body(), Body::Empty));
            assert!(req.headers().get("authorization").is_none());
        }
    }

    #[test]
    fn the_answer_wrapper_serialises_as_its_value_and_wipes_on_drop() {
        fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wipes_on_drop::<WipedOnDrop>();
        let answer = WipedOnDrop(json!({"found": true, "apiKey": "sk-proj-Secret0123456789"}));
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"apiKey":"sk-proj-Secret0123456789","found":true}"#
        );
        let mut inner = answer.0.clone();
        wipe_value(&mut inner);
        assert_eq!(inner, json!({}));
    }
}
