//! use-key: a user's key for the app's own servers, invoked with the Lambda Invoke
//! API (never routed through API Gateway). Wiring only: the payloads are
//! `apikeys::invoke`.

use apikeys::deployment::{DeploymentKeys, DeploymentSettings};
use apikeys::invoke::{handle_with, UserTokenGate};
use apikeys::{SealingState, Settings};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    apikeys::telemetry::init();
    let settings = Settings::from_env()?;
    let state = SealingState::from_settings(&settings).await;
    let state = &state;
    let gate = UserTokenGate::from_settings(&settings.user_tokens);
    let gate = &gate;
    // The deployment's own keys, only when the stack names a secret of them.
    let deployment_settings = DeploymentSettings::from_env()?;
    let deployment = if deployment_settings.fallback {
        let sdk = apikeys::aws::sdk_config(&settings.aws).await;
        DeploymentKeys::new(deployment_settings, &sdk)
    } else {
        DeploymentKeys::off()
    };
    let deployment = &deployment;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Boxed: the handler future is deep, and the runtime nests it further.
        let answer = Box::pin(handle_with(
            state,
            gate,
            deployment,
            &event.payload,
            &event.context.request_id,
        ))
        .await;
        // The answer may carry the key: wiped once the runtime has serialised it.
        Ok::<_, std::convert::Infallible>(apikeys::wipe::WipedOnDrop(answer))
    }))
    .await
}
