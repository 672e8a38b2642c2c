//! What crosses the proxy in headers. Towards the provider only an allow-list of
//! request headers goes (the content type, what the SDKs use to pick API versions
//! and betas), so no identity of the caller (its token, cookies, forwarding
//! headers) and no hop-by-hop header ever leaves; the key is added by the proxy.
//! Back to the caller every header goes except the hop-by-hop ones (RFC 9110,
//! section 7.6.1: <https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1>), the
//! length (the answer is streamed), the provider's account identities and cookies,
//! and anything claiming to be a receipt of the vault.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Request headers forwarded to the provider.
const FORWARDED: &[&str] = &[
    "content-type",
    "accept",
    // https://docs.anthropic.com/en/api/versioning, https://docs.anthropic.com/en/api/beta-headers
    "anthropic-version",
    "anthropic-beta",
    // OpenAI's beta opt-ins (Assistants and Realtime use it).
    "openai-beta",
];

/// Answer headers never passed back: hop-by-hop, the length, cookies and the
/// provider account's identities.
const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "set-cookie",
    "openai-organization",
    "openai-project",
    "anthropic-organization-id",
];

/// The prefix of the vault's own receipt headers.
pub const RECEIPT_PREFIX: &str = "x-apikeys-";

/// Headers named by a `Connection` header are hop-by-hop too.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The caller's headers that go to the provider.
pub fn to_provider(incoming: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::new();
    for name in FORWARDED {
        if listed.iter().any(|l| l == name) {
            continue;
        }
        for value in incoming.get_all(*name) {
            out.append(HeaderName::from_static(name), value.clone());
        }
    }
    out
}

/// The provider's headers that go back to the caller.
pub fn to_caller(upstream: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(upstream);
    let mut out = HeaderMap::new();
    for (name, value) in upstream {
        let n = name.as_str();
        if DROPPED.contains(&n) || n.starts_with(RECEIPT_PREFIX) || listed.iter().any(|l| l == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// A header value from text the vault wrote (ids, hints, reasons): characters a
/// header cannot carry are replaced.
pub fn text_value(text: &str) -> HeaderValue {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn only_the_allow_list_reaches_the_provider() {
        let incoming = map(&[
            ("authorization", "Bearer user-token"),
            ("x-api-key", "user-token"),
            ("x-goog-api-key", "user-token"),
            ("cookie", "session=1"),
            ("x-forwarded-for", "10.0.0.1"),
            ("host", "vault.example.com"),
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
            ("connection", "keep-alive, anthropic-beta"),
            ("anthropic-beta", "x"),
            ("transfer-encoding", "chunked"),
        ]);
        let out = to_provider(&incoming);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type", "anthropic-version"]);
    }

    #[test]
    fn hop_by_hop_identity_and_forged_receipts_stay_behind() {
        let upstream = map(&[
            ("content-type", "text/event-stream"),
            ("content-length", "10"),
            ("transfer-encoding", "chunked"),
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("set-cookie", "a=b"),
            ("openai-organization", "org-123"),
            ("x-apikeys-key-id", "forged"),
            ("x-ratelimit-remaining-requests", "99"),
            ("retry-after", "3"),
        ]);
        let out = to_caller(&upstream);
        let mut names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "content-type",
                "retry-after",
                "x-ratelimit-remaining-requests"
            ]
        );
    }

    #[test]
    fn receipt_text_is_always_a_header_value() {
        assert_eq!(text_value("sk-…abcd").to_str().unwrap(), "sk-?abcd");
        assert_eq!(text_value("a\nb").to_str().unwrap(), "a?b");
    }
}
