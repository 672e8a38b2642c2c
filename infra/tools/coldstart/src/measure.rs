//! One cold start: spawn the binary against the local Runtime API, time its first
//! `/next` and its response, then (when asked) the same event warm a number of
//! times, with the CPU time the process spent on them; read its peak RSS once it is
//! idle, stop it.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime_api::{Report, RuntimeApi};

/// A binary to measure and the event it gets.
#[derive(Debug, Clone)]
pub struct Target {
    /// The function's name (the package's).
    pub name: String,
    /// The build it comes from (`--variant`), empty for the target directory's.
    pub variant: String,
    /// The x86_64 release binary that runs here.
    pub binary: PathBuf,
    /// The arm64 binary of the same build, for its size.
    pub arm64: PathBuf,
    /// The event handed out on the first `/next`.
    pub event: Arc<Vec<u8>>,
}

impl Target {
    /// `name`, or `name@variant`.
    pub fn label(&self) -> String {
        if self.variant.is_empty() {
            self.name.clone()
        } else {
            format!("{}@{}", self.name, self.variant)
        }
    }
}

/// What one cold start measured.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Process start to the first `/next` request.
    pub init: Duration,
    /// Process start to the response POST.
    pub first_response: Duration,
    /// Peak resident set (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// The answer: the HTTP status an API Gateway response carries, else `json`.
    pub answer: String,
    /// Each warm invocation: the event handed out to the response POST.
    pub warm: Vec<Duration>,
    /// CPU time (every thread, user and system) per warm invocation, on average.
    pub warm_cpu: Option<Duration>,
}

/// Everything a run passes to the child besides the Runtime API variables.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Variables set on every child (the environment is not inherited otherwise).
    pub env: Vec<(String, String)>,
    /// Where the children's stdout and stderr go, one file per target.
    pub log_dir: PathBuf,
    /// How long a run may take before it counts as failed.
    pub timeout: Duration,
    /// Warm invocations after the cold one, each run.
    pub warm: u32,
}

/// Starts `target` once and measures it.
pub fn cold_start(
    api: &RuntimeApi,
    target: &Target,
    launch: &Launch,
    run: u64,
) -> Result<Sample, String> {
    api.arm(run, &target.name, Arc::clone(&target.event), launch.warm);
    let log = launch.log_dir.join(format!("{}.log", target.label()));
    let (out, err) = log_files(&log).map_err(|e| format!("{}: {e}", log.display()))?;

    let mut command = Command::new(&target.binary);
    command
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", &target.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);

    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", target.binary.display()))?;
    let result = watch(api, &mut child, started, launch, run, &log);
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn log_files(log: &Path) -> std::io::Result<(File, File)> {
    let file = OpenOptions::new().create(true).append(true).open(log)?;
    Ok((file.try_clone()?, file))
}

fn watch(
    api: &RuntimeApi,
    child: &mut Child,
    started: Instant,
    launch: &Launch,
    run: u64,
    log: &Path,
) -> Result<Sample, String> {
    let deadline = started + launch.timeout;
    let mut init = None;
    let mut response = None;
    // The warm invocations: when the current one was handed out, each one's time,
    // and the process's CPU time when the first was handed out.
    let mut warm_since = None;
    let mut warm = Vec::new();
    let mut cpu_before_warm = None;
    loop {
        if Instant::now() > deadline {
            return Err(format!(
                "no answer within {:?} (log: {})",
                launch.timeout,
                log.display()
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited early, {status} (log: {})", log.display()));
        }
        let report = api
            .next_report(run, Duration::from_millis(20))
            .map_err(|()| "the Runtime API stopped".to_owned())?;
        match report {
            None => {}
            Some(Report::Next { at, handed: true }) if init.is_none() => {
                init = Some(at - started);
            }
            Some(Report::Next { at, handed: true }) => {
                if cpu_before_warm.is_none() {
                    cpu_before_warm = Some(cpu_time(child.id())?);
                }
                warm_since = Some(at);
            }
            Some(Report::Response { at, body }) => match warm_since.take() {
                Some(since) => warm.push(at - since),
                None => response = Some((at - started, body)),
            },
            Some(Report::Error { path, body }) => {
                return Err(format!(
                    "{path}: {} (log: {})",
                    String::from_utf8_lossy(&body[..body.len().min(300)]),
                    log.display()
                ));
            }
            Some(Report::Next { handed: false, .. }) => {
                // Idle again after answering: the peak is behind it.
                let (Some(init), Some((first_response, body))) = (init, response) else {
                    return Err("asked for a second event before answering the first".into());
                };
                let answer = answer(&body);
                // A 5xx is the error path (emulator down, table missing), not the
                // function's work: measuring it would mislead.
                if answer.starts_with('5') {
                    return Err(format!(
                        "answered {answer}: is the emulator running and provisioned? (log: {})",
                        log.display()
                    ));
                }
                let warm_cpu = match cpu_before_warm {
                    Some(before) if !warm.is_empty() => {
                        let spent = cpu_time(child.id())?.saturating_sub(before);
                        Some(spent / warm.len() as u32)
                    }
                    _ => None,
                };
                return Ok(Sample {
                    init,
                    first_response,
                    peak_rss_kib: peak_rss_kib(child.id())?,
                    answer,
                    warm,
                    warm_cpu,
                });
            }
        }
    }
}

/// CPU time a live process has spent, every thread (`/proc/PID/task/*/schedstat`:
/// its first field is the time on a CPU, in nanoseconds).
fn cpu_time(pid: u32) -> Result<Duration, String> {
    let tasks = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&tasks).map_err(|e| format!("{tasks}: {e}"))?;
    let mut nanos: u64 = 0;
    for entry in entries.flatten() {
        // A thread that ends meanwhile has nothing left to count.
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        nanos += text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(Duration::from_nanos(nanos))
}

/// `VmHWM` of a live process: the most it was ever resident.
fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmHWM in /proc/{pid}/status"))
}

/// The `statusCode` of an API Gateway response, else `json` (maintenance answers
/// with its summary).
fn answer(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split_once("\"statusCode\":")
        .map(|(_, rest)| {
            rest.trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|code| !code.is_empty())
        .unwrap_or_else(|| "json".to_owned())
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn the_answer_is_the_status_code_of_an_api_gateway_response() {
        assert_eq!(answer(br#"{"statusCode":201,"headers":{}}"#), "201");
        assert_eq!(answer(br#"{"statusCode": 404}"#), "404");
        assert_eq!(answer(br#"{"due":0,"unused":0}"#), "json");
    }
}
