//! A local stand-in for the Lambda Runtime API
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>): it hands
//! out the event of a run on `GET /2018-06-01/runtime/invocation/next` (once, then
//! again for each warm invocation asked for) and reports every `/next`, `/response`
//! and `/error` to the harness with the time it arrived. A `/next` past those is
//! never answered: the function is idle then, which is when the harness reads its
//! peak RSS and stops it.

use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::{read_request, write_response};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

/// What a function asked of the Runtime API, in the order it asked.
#[derive(Debug)]
pub enum Report {
    /// `GET .../invocation/next`; `handed` when it got the event (the first, and
    /// each warm one), not when it is left waiting.
    Next { at: Instant, handed: bool },
    /// `POST .../invocation/{id}/response`, with the function's answer.
    Response { at: Instant, body: Vec<u8> },
    /// `POST .../invocation/{id}/error` or `.../init/error`.
    Error { path: String, body: Vec<u8> },
}

/// The invocation of the current run.
struct Invocation {
    run: u64,
    function: String,
    event: Arc<Vec<u8>>,
    served: bool,
    /// How many more times the event is handed out after the first.
    warm: u32,
}

/// The server, listening on an ephemeral port of 127.0.0.1.
pub struct RuntimeApi {
    address: SocketAddr,
    current: Arc<Mutex<Invocation>>,
    reports: Receiver<(u64, Report)>,
}

impl RuntimeApi {
    /// Binds 127.0.0.1 and serves every connection on its own thread.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let current = Arc::new(Mutex::new(Invocation {
            run: 0,
            function: String::new(),
            event: Arc::new(Vec::new()),
            served: true,
            warm: 0,
        }));
        let (tx, reports) = mpsc::channel();
        let shared = Arc::clone(&current);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (current, tx) = (Arc::clone(&shared), tx.clone());
                std::thread::spawn(move || serve(stream, &current, &tx));
            }
        });
        Ok(Self {
            address,
            current,
            reports,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Makes `event` the invocation of run `run` of `function`: once cold, then
    /// `warm` times more.
    pub fn arm(&self, run: u64, function: &str, event: Arc<Vec<u8>>, warm: u32) {
        while self.reports.try_recv().is_ok() {}
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *current = Invocation {
            run,
            function: function.to_owned(),
            event,
            served: false,
            warm,
        };
    }

    /// The next report of run `run`, if one arrives within `wait`; `Err(())` if
    /// the server is gone.
    pub fn next_report(&self, run: u64, wait: Duration) -> Result<Option<Report>, ()> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok((r, report)) if r == run => return Ok(Some(report)),
                Ok(_) => continue, // from a run already over
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => return Err(()),
            }
        }
    }
}

fn serve(stream: TcpStream, current: &Mutex<Invocation>, tx: &Sender<(u64, Report)>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_request(&mut reader) {
        let path = request.path.as_str();
        if request.method == "GET" && path == NEXT {
            let (run, handed_out) = {
                let mut invocation = current.lock().unwrap_or_else(PoisonError::into_inner);
                let hand = if !invocation.served {
                    invocation.served = true;
                    true
                } else if invocation.warm > 0 {
                    invocation.warm -= 1;
                    true
                } else {
                    false
                };
                let handed_out = hand.then(|| {
                    (
                        Arc::clone(&invocation.event),
                        invocation.function.clone(),
                        invocation.run,
                    )
                });
                (invocation.run, handed_out)
            };
            let handed = handed_out.is_some();
            let _ = tx.send((
                run,
                Report::Next {
                    at: request.received,
                    handed,
                },
            ));
            let Some((event, function, run)) = handed_out else {
                // Idle: hold the long poll until the function is stopped.
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
                return;
            };
            let headers = invocation_headers(&function, run);
            if write_response(&mut writer, "200 OK", &headers, &event).is_err() {
                return;
            }
        } else if request.method == "POST" && (path.starts_with(INVOCATION) || path == INIT_ERROR) {
            let run = current.lock().unwrap_or_else(PoisonError::into_inner).run;
            let report = if path.ends_with("/response") {
                Report::Response {
                    at: request.received,
                    body: request.body,
                }
            } else {
                Report::Error {
                    path: request.path,
                    body: request.body,
                }
            };
            let _ = tx.send((run, report));
            if write_response(&mut writer, "202 Accepted", &[], br#"{"status":"OK"}"#).is_err() {
                return;
            }
        } else if write_response(&mut writer, "404 Not Found", &[], b"{}").is_err() {
            return;
        }
    }
}

/// The headers the runtime client needs on an invocation.
fn invocation_headers(function: &str, run: u64) -> Vec<(&'static str, String)> {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 60_000;
    vec![
        (
            "lambda-runtime-aws-request-id",
            format!("coldstart-{function}-{run}"),
        ),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
        ),
        (
            "lambda-runtime-trace-id",
            format!("Root=1-00000000-{run:024x};Sampled=0"),
        ),
    ]
}
