//! Structured JSON logs, one line per event, as CloudWatch reads them. Whatever
//! `RUST_LOG` asks for, no line can carry a request body: the crates that would
//! print one at their most verbose levels are capped here.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// The most each of these targets (and the modules under it) may log.
///
/// The caps are a filter of their own beside the one `RUST_LOG` builds, so no
/// directive there can lift them, however specific (`lambda_runtime::layers=trace`
/// would outrank a directive merely added to the `RUST_LOG` filter).
pub const CAPS: [(&str, LevelFilter); 10] = [
    // Its TRACE lines carry the raw invocation event ("raw JSON event received from
    // Lambda", with the body and so `apiKey`) and the streamed response prelude;
    // its DEBUG lines only say how it polls.
    ("lambda_runtime", LevelFilter::DEBUG),
    // The Runtime API client moves the raw events; it logs nothing today.
    ("lambda_runtime_api_client", LevelFilter::INFO),
    // Turns events into requests; it logs nothing today.
    ("lambda_http", LevelFilter::INFO),
    // HTTP/2 frame traces of the SDK's connections.
    ("h2", LevelFilter::INFO),
    // Debug output of the SDK and HTTP clients describes requests and responses.
    ("aws_smithy_runtime", LevelFilter::WARN),
    ("aws_smithy_http_client", LevelFilter::WARN),
    ("aws_runtime", LevelFilter::WARN),
    ("aws_config", LevelFilter::WARN),
    ("hyper", LevelFilter::WARN),
    ("reqwest", LevelFilter::WARN),
];

/// The caps of [`CAPS`] as a filter: every other target passes to `RUST_LOG`'s.
pub fn caps() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPS)
}

/// The filter `RUST_LOG` asks for: its `target=level` directives and a bare level
/// for every other target (`info`, `apikeys=debug,warn`), or `info` when it is unset
/// or cannot be parsed. (Span and field directives are not read: the functions log
/// events, and the regex engine they would need is a large part of a small binary.)
pub fn env_filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|directives| directives.trim().parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// The subscriber of every function: JSON lines, level from the `RUST_LOG` of the
/// process, capped by [`caps`], written to `writer`. Tests pass a buffer to read
/// what would be logged.
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    json_subscriber_for(std::env::var("RUST_LOG").ok().as_deref(), writer)
}

/// [`json_subscriber`] for a given `RUST_LOG` value (`None`: unset), so a test
/// builds exactly what a function builds without changing its environment.
pub fn json_subscriber_for<W>(
    rust_log: Option<&str>,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        // The builder's own level would stop at INFO: the filters below decide.
        .with_max_level(LevelFilter::TRACE)
        .with_writer(writer)
        .finish()
        .with(env_filter(rust_log))
        .with(caps())
}

/// Installs [`json_subscriber`] on stdout for the process.
pub fn init() {
    let _ = tracing::subscriber::set_global_default(json_subscriber(std::io::stdout));
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl<'w> MakeWriter<'w> for Capture {
        type Writer = Capture;

        fn make_writer(&'w self) -> Capture {
            self.clone()
        }
    }

    /// What one event of each level and target logs under `rust_log`.
    fn logged_under(rust_log: &str) -> String {
        let capture = Capture::default();
        let subscriber = json_subscriber_for(Some(rust_log), capture.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "BODY-1", "raw JSON event received from Lambda");
            tracing::trace!(target: "lambda_runtime", "BODY-2");
            tracing::debug!(target: "lambda_runtime_api_client", "BODY-3");
            tracing::debug!(target: "lambda_http", "BODY-4");
            tracing::debug!(target: "h2::codec", "BODY-5");
            tracing::info!(target: "aws_smithy_runtime::client", "BODY-6");
            tracing::debug!(target: "hyper_util::client", "BODY-7");
            tracing::debug!(target: "lambda_runtime", "polling-is-debug");
            tracing::info!(target: "lambda_http", "info-passes");
            tracing::trace!(target: "apikeys::api", "own-trace");
        });
        capture.text()
    }

    #[test]
    fn the_runtime_targets_are_capped_even_at_rust_log_trace() {
        for rust_log in [
            "trace",
            "trace,lambda_runtime=trace,lambda_runtime_api_client=trace,lambda_http=trace",
            "lambda_runtime::layers::api_response=trace,lambda_runtime[{body}]=trace,trace",
        ] {
            let logged = logged_under(rust_log);
            for n in 1..=7 {
                assert!(
                    !logged.contains(&format!("BODY-{n}")),
                    "{rust_log}: BODY-{n} in {logged}"
                );
            }
            // What stays under the caps is still logged.
            assert!(logged.contains("polling-is-debug"), "{rust_log}: {logged}");
            assert!(logged.contains("info-passes"), "{rust_log}: {logged}");
            assert!(logged.contains("own-trace"), "{rust_log}: {logged}");
        }
    }

    #[test]
    fn without_the_caps_rust_log_trace_would_log_the_runtime_event() {
        // The control: the same events reach a plain `RUST_LOG=trace` filter.
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(LevelFilter::TRACE)
            .with_writer(capture.clone())
            .finish()
            .with(env_filter(Some("trace")));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "BODY-1", "raw JSON event received from Lambda");
        });
        let logged = capture.text();
        assert!(logged.contains("BODY-1"), "{logged}");
    }

    #[test]
    fn rust_log_names_levels_per_target() {
        let capture = Capture::default();
        let subscriber = json_subscriber_for(Some("apikeys::api=debug,warn"), capture.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "apikeys::api", "api-debug");
            tracing::info!(target: "apikeys::repo", "repo-info");
            tracing::warn!(target: "apikeys::repo", "repo-warn");
        });
        let logged = capture.text();
        assert!(logged.contains("api-debug"), "{logged}");
        assert!(!logged.contains("repo-info"), "{logged}");
        assert!(logged.contains("repo-warn"), "{logged}");
    }

    #[test]
    fn rust_log_unset_or_unreadable_means_info() {
        for rust_log in [None, Some("lambda_runtime=[")] {
            let capture = Capture::default();
            let subscriber = json_subscriber_for(rust_log, capture.clone());
            tracing::subscriber::with_default(subscriber, || {
                tracing::debug!(target: "apikeys::api", "own-debug");
                tracing::info!(target: "apikeys::api", "own-info");
            });
            let logged = capture.text();
            assert!(
                logged.contains("own-info") && !logged.contains("own-debug"),
                "{rust_log:?}: {logged}"
            );
        }
    }
}
