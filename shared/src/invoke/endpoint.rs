//! A stored endpoint, checked again where use-key hands its key out: resolved under
//! today's rules, so a name that led to a public address at store and leads inside
//! the network now is refused, and the caller learns the addresses it may connect to.

use serde_json::Value;

use crate::provider::ProviderId;
use crate::sealing_state::SealingState;

/// A stored endpoint, checked again where it is used.
pub(super) enum Checked {
    /// The key has none.
    NoEndpoint,
    /// The addresses it leads to under today's policy (empty when the resolver did
    /// not answer in time).
    Addresses(Vec<String>),
    /// It leads somewhere the guard refuses today (or does not resolve): the field.
    Refused(&'static str),
}

/// Resolves and checks a stored endpoint under today's rules: a name that resolved
/// to a public address at store may lead inside the network now.
pub(super) async fn check_endpoint(
    state: &SealingState,
    provider: ProviderId,
    stored: Option<&Value>,
) -> Checked {
    let Some(value) = stored.filter(|v| !v.is_null()) else {
        return Checked::NoEndpoint;
    };
    let endpoint = match state.tester.parse_endpoint(provider, value) {
        Ok(endpoint) => endpoint,
        Err(errors) => return Checked::Refused(errors.first().map_or("endpoint", |e| e.field)),
    };
    match state.tester.checked_addresses(provider, &endpoint).await {
        Ok(addrs) => {
            let mut ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            ips.dedup();
            Checked::Addresses(ips)
        }
        Err(refused) => Checked::Refused(refused.field),
    }
}
