//! What every route shares: the wrapper ([`serve`]), the body reader ([`body`]),
//! the typed requests ([`request`]), one error type ([`error`]) and its field
//! details, the identity from the authorizer ([`identity`]), the audit line
//! ([`audit`]), the responses with the security headers ([`respond`]) and the
//! router that matches a request against a function's route table ([`router`]).

pub(crate) mod audit;
pub mod body;
pub mod error;
pub mod field_error;
pub mod identity;
pub(crate) mod json_numbers;
pub mod request;
pub mod respond;
pub mod router;
pub mod serve;
