//! The get-configs function. Wiring only: its route table is `apikeys::api::get_configs`.
//! This function never loads key material.

use apikeys::api::get_configs::handle;
use apikeys::{Settings, State};
use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    apikeys::telemetry::init();
    let settings = Settings::from_env()?;
    let state = State::from_settings(&settings).await;
    let state = &state;
    run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(handle(state, req).await)
    }))
    .await
}
