//! The daily maintenance sweep (EventBridge schedule). Wiring only: the logic is
//! `apikeys::maintenance::sweep`. Never loads key material, never reads ciphertext.

use apikeys::maintenance::sweep;
use apikeys::{Settings, State};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use time::OffsetDateTime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    apikeys::telemetry::init();
    let settings = Settings::from_env()?;
    let state = State::from_settings(&settings).await;
    let state = &state;
    run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let config = &state.settings;
            let now = OffsetDateTime::now_utc();
            let summary =
                sweep(&state.repo, now, config.rotation_after, config.unused_after).await?;
            Ok::<_, Error>(serde_json::to_value(summary)?)
        },
    ))
    .await
}
