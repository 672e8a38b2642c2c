//! proxy: a call to a provider made with the user's key inside the vault, the answer
//! streamed back as the provider sends it (Lambda response streaming behind a
//! function URL with `InvokeMode: RESPONSE_STREAM`; API Gateway HTTP APIs do not
//! stream). Wiring only: the proxy is `apikeys::proxy`.

use std::sync::Arc;

use apikeys::proxy::Proxy;
use apikeys::Settings;
use lambda_http::{run_with_streaming_response, service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    apikeys::telemetry::init();
    let settings = Settings::from_env()?;
    let proxy = Arc::new(Proxy::from_settings(&settings).await);
    run_with_streaming_response(service_fn(move |request: Request| {
        let proxy = Arc::clone(&proxy);
        async move { Ok::<_, std::convert::Infallible>(proxy.handle_lambda(request).await) }
    }))
    .await
}
