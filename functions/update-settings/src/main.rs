//! PUT /api/provider-configs. Wiring only: the handler is `apikeys::api::update_settings`.
//! This function never loads key material.

use apikeys::api::update_settings::handle;
use apikeys::State;
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    apikeys::telemetry::init();
    let state = State::from_env().await;
    let state = &state;
    run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(handle(state, req).await)
    }))
    .await
}
