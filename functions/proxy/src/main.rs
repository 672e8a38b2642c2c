//! proxy: a call to a provider made with the user's key inside the vault, the answer
//! streamed back as the provider sends it (Lambda response streaming behind a
//! function URL with `InvokeMode: RESPONSE_STREAM`; API Gateway HTTP APIs do not
//! stream). Wiring only: the proxy is `apikeys::proxy`.

use std::sync::Arc;

use apikeys::proxy::Proxy;
use apikeys::Settings;
use lambda_http::{run_with_streaming_response, service_fn, Error, Request, RequestExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    apikeys::telemetry::init();
    let settings = Settings::from_env()?;
    let proxy = Arc::new(Proxy::from_settings(&settings).await);
    run_with_streaming_response(service_fn(move |request: Request| {
        let proxy = Arc::clone(&proxy);
        async move {
            let request_id = request.lambda_context().request_id;
            let (parts, body) = request.into_parts();
            let body = bytes::Bytes::copy_from_slice(body.as_ref());
            let request = lambda_http::http::Request::from_parts(parts, body);
            Ok::<_, std::convert::Infallible>(proxy.handle(request, &request_id).await)
        }
    }))
    .await
}
