//! A stand-in for every LLM provider, so that `test-key`'s first request makes its
//! real outbound call (TLS aside) without leaving 127.0.0.1: any request gets a
//! 200 with an empty model list, which every provider check reads as "valid".

use std::io::BufReader;
use std::net::{SocketAddr, TcpListener};

use crate::http::{read_request, write_response};

/// The base-URL variables of the providers (README, "Key tests").
pub const BASE_URL_VARIABLES: [&str; 6] = [
    "APIKEYS_OPENAI_BASE_URL",
    "APIKEYS_CLAUDE_BASE_URL",
    "APIKEYS_GOOGLE_AI_BASE_URL",
    "APIKEYS_OPENROUTER_BASE_URL",
    "APIKEYS_GROK_BASE_URL",
    "APIKEYS_GITHUB_BASE_URL",
];

/// Starts the fake provider on an ephemeral port of 127.0.0.1; returns its address.
pub fn start() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut writer) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(stream);
                while let Ok(Some(_)) = read_request(&mut reader) {
                    let body = br#"{"object":"list","data":[]}"#;
                    if write_response(&mut writer, "200 OK", &[], body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(address)
}
