//! Structured JSON logs, one line per event, as CloudWatch reads them.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Crates whose debug output could describe request bodies: capped at `warn`
/// whatever `RUST_LOG` says.
const CAPPED: [&str; 6] = [
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_runtime",
    "aws_config",
    "hyper",
    "reqwest",
];

/// The subscriber of every function: JSON lines, level from `RUST_LOG` (default
/// `info`), written to `writer`. Tests pass a buffer to read what would be logged.
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for target in CAPPED {
        if let Ok(directive) = format!("{target}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// Installs [`json_subscriber`] on stdout for the process.
pub fn init() {
    let _ = tracing::subscriber::set_global_default(json_subscriber(std::io::stdout));
}
