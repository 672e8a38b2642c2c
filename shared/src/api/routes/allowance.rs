//! The per-user allowance of key tests, shared by test-key and `validate: true` on
//! store.

use time::OffsetDateTime;

use crate::api::edge::error::ApiError;
use crate::api::edge::identity::UserId;
use crate::repo::Allowance;
use crate::state::State;

/// Takes one key test from the user's per-minute allowance, or answers 429.
pub(crate) async fn take_key_test(state: &State, user: &UserId) -> Result<(), ApiError> {
    let now = OffsetDateTime::now_utc();
    match state
        .repo
        .take_key_test(user.as_str(), now, state.settings.key_tests_per_minute)
        .await?
    {
        Allowance::Granted => Ok(()),
        Allowance::Exhausted { retry_after_secs } => Err(ApiError::RateLimited(retry_after_secs)),
    }
}
