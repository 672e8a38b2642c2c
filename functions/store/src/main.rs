//! The store function. Wiring only: its route table is `apikeys::api::store`.

use apikeys::api::store::handle;
use apikeys::{SealingState, Settings};
use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    apikeys::telemetry::init();
    let settings = Settings::from_env()?;
    let state = SealingState::from_settings(&settings).await;
    let state = &state;
    run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(handle(state, req).await)
    }))
    .await
}
