//! A local API on a free loopback port, with its own local issuer and the project's
//! `template.yaml`, for the tests of this crate.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use apikeys_admin::issuer::LocalIssuer;
use apikeys_local_api::{serve, App, Settings};

/// The repository's template.
pub fn template_path() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../../template.yaml").to_owned()
}

/// A fresh directory under the system's temp dir, unique to this test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "apikeys-local-api-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A local issuer in a fresh directory.
pub fn issuer(name: &str) -> (LocalIssuer, PathBuf) {
    let dir = temp_dir(name).join("issuer");
    let (issuer, _) = LocalIssuer::provision(&dir).expect("provision the issuer");
    (issuer, dir)
}

/// A running local API.
pub struct Running {
    /// Its base URL.
    pub base: String,
}

/// Starts a local API with these variables on top of the test defaults (the
/// project's template, no web directory).
pub async fn start(vars: &[(&str, String)]) -> Running {
    let mut env: HashMap<String, String> = HashMap::from([
        ("APIKEYS_TEMPLATE".to_owned(), template_path()),
        (
            "APIKEYS_WEB_DIR".to_owned(),
            temp_dir("no-web").join("absent").display().to_string(),
        ),
        ("APIKEYS_INVOKE_TIMEOUT_SECONDS".to_owned(), "5".to_owned()),
    ]);
    for (k, v) in vars {
        env.insert((*k).to_owned(), v.clone());
    }
    let settings = Settings::from_lookup(&|name| env.get(name).cloned()).expect("settings");
    let app = App::build(&settings).await.expect("the local API starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(serve(listener, Arc::new(app), std::future::pending()));
    Running { base }
}

/// An HTTP client for the tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The body of an answer as JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    let bytes = response.bytes().await.expect("a body");
    serde_json::from_slice(&bytes).expect("a JSON body")
}
