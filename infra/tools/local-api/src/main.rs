//! `apikeys-local-api`: wiring only; see the library for what it does.

use std::process::ExitCode;
use std::sync::Arc;

use apikeys_local_api::{serve, App, IssuerSetting, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("apikeys-local-api: error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let settings =
        Settings::from_lookup(&|name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
    let app = App::build(&settings).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", settings.port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", settings.port))?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    eprintln!(
        "apikeys-local-api: serving {base} (functions invoked at {})",
        app.invoker.base()
    );
    for route in app.routes.routes() {
        eprintln!("  {:<45} -> {}", route.route_key(), route.function);
    }
    match &settings.issuer {
        IssuerSetting::Local { dir } => eprintln!(
            "  tokens: local issuer in {} (its keys at {base}/.well-known/jwks.json)",
            dir.display()
        ),
        IssuerSetting::External { issuer, .. } => eprintln!("  tokens: issuer {issuer}"),
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, Arc::new(app), shutdown)
        .await
        .map_err(|e| e.to_string())
}
