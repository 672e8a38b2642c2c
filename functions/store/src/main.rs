//! POST /api/provider-configs. Wiring only: the handler is `apikeys::api::store`.

use apikeys::api::store::handle;
use apikeys::SealingState;
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    apikeys::telemetry::init();
    let state = SealingState::from_env().await?;
    let state = &state;
    run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(handle(state, req).await)
    }))
    .await
}
