//! Command line, and which binaries and events it means.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::measure::Target;

/// What `--help` prints.
pub const USAGE: &str = "\
coldstart: cold starts of release binaries against a local Lambda Runtime API.

usage: coldstart [--runs N] [--warmup N] [--warm N] [--root DIR] [--target-dir DIR]
                 [--crypto NAME,...] [--timeout-ms MS] [--env K=V]...
                 [--variant LABEL=DIR]... [NAME...]

NAME...        packages to measure (default: every functions/*/ and hello)
--runs N       measured cold starts of each (default 15)
--warmup N     unmeasured rounds first, for the page cache and the emulator (default 1)
--warm N       after each cold start, the same event N times more in the same process:
               each one's time and the CPU time it took (default 0: none)
--root DIR     the repository (default: the one this was built from)
--target-dir   where `cargo build --release` put the binaries (default
               $CARGO_TARGET_DIR, else ROOT/target); x86_64 binaries run from
               DIR/release/NAME, arm64 sizes come from DIR/lambda/NAME/bootstrap
--crypto LIST  the functions that load key material (default store,test-key,use-key)
--timeout-ms   time a run may take (default 30000)
--env K=V      one more variable for every child (repeatable), e.g. to try a setting
--variant L=DIR  measure the binaries of another target directory too, labelled
               NAME@L (repeatable; runs interleave, so builds compare fairly)

Events: infra/tools/coldstart/events/NAME.json, else events/NAME.json; hello gets
events/get-configs.json. The children get AWS_*, APIKEYS_*, API_KEY_* and RUST_LOG
from this environment (not AWS_CA_BUNDLE, AWS_PROFILE, AWS_CONFIG_FILE,
AWS_SHARED_CREDENTIALS_FILE), nothing else; logs go to TARGET/coldstart/NAME.log.";

/// The baseline's package.
pub const BASELINE: &str = "hello";

/// Parsed arguments.
#[derive(Debug, Clone)]
pub struct Options {
    pub runs: usize,
    pub warmup: usize,
    pub warm: u32,
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub crypto: Vec<String>,
    pub timeout: Duration,
    pub names: Vec<String>,
    pub extra_env: Vec<(String, String)>,
    pub variants: Vec<(String, PathBuf)>,
}

impl Options {
    /// Parses `args` (without the program name); `Ok(None)` for `--help`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Self>, String> {
        let built_in = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.."));
        let mut options = Self {
            runs: 15,
            warmup: 1,
            warm: 0,
            root: built_in
                .canonicalize()
                .unwrap_or_else(|_| built_in.to_owned()),
            target_dir: PathBuf::new(),
            crypto: ["store", "test-key", "use-key"].map(String::from).to_vec(),
            timeout: Duration::from_secs(30),
            names: Vec::new(),
            extra_env: Vec::new(),
            variants: Vec::new(),
        };
        let mut target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--runs" => options.runs = number(&value("--runs")?)?,
                "--warmup" => options.warmup = number(&value("--warmup")?)?,
                "--warm" => {
                    options.warm = u32::try_from(number(&value("--warm")?)?)
                        .map_err(|_| "--warm is too large".to_owned())?;
                }
                "--timeout-ms" => {
                    let ms = number(&value("--timeout-ms")?)?;
                    options.timeout = Duration::from_millis(ms as u64);
                }
                "--root" => options.root = PathBuf::from(value("--root")?),
                "--target-dir" => target_dir = Some(PathBuf::from(value("--target-dir")?)),
                "--env" => {
                    let pair = value("--env")?;
                    let (k, v) = pair
                        .split_once('=')
                        .ok_or(format!("--env {pair}: not K=V"))?;
                    options.extra_env.push((k.to_owned(), v.to_owned()));
                }
                "--variant" => {
                    let pair = value("--variant")?;
                    let (label, dir) = pair
                        .split_once('=')
                        .filter(|(l, _)| !l.is_empty())
                        .ok_or(format!("--variant {pair}: not LABEL=DIR"))?;
                    options
                        .variants
                        .push((label.to_owned(), PathBuf::from(dir)));
                }
                "--crypto" => {
                    options.crypto = value("--crypto")?
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect();
                }
                flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
                name => options.names.push(name.to_owned()),
            }
        }
        if options.runs == 0 {
            return Err("--runs must be at least 1".into());
        }
        options.target_dir = target_dir.unwrap_or_else(|| options.root.join("target"));
        if options.names.is_empty() {
            options.names = functions(&options.root)?;
            options.names.push(BASELINE.to_owned());
        }
        order(&mut options.names);
        Ok(Some(options))
    }

    /// Where the children's logs go.
    pub fn log_dir(&self) -> PathBuf {
        self.target_dir.join("coldstart")
    }

    /// Every binary to measure, in the order of a round: each name, in each build
    /// (the target directory's, then every `--variant`).
    pub fn targets(&self) -> Result<Vec<Target>, String> {
        let mut builds = vec![(String::new(), self.target_dir.clone())];
        builds.extend(self.variants.iter().cloned());
        let mut targets = Vec::new();
        for name in &self.names {
            let event = self.event(name)?;
            let bytes = std::fs::read(&event).map_err(|e| format!("{}: {e}", event.display()))?;
            let event = Arc::new(bytes);
            for (variant, dir) in &builds {
                let binary = dir.join("release").join(name);
                if !binary.is_file() {
                    return Err(format!(
                        "{} is missing: build it with `cargo build --release --locked -p {name}` \
                         (or infra/scripts/build.sh --x86_64 {name})",
                        binary.display()
                    ));
                }
                targets.push(Target {
                    name: name.clone(),
                    variant: variant.clone(),
                    binary,
                    // Where `cargo lambda build --arm64` leaves it.
                    arm64: dir.join("lambda").join(name).join("bootstrap"),
                    event: Arc::clone(&event),
                });
            }
        }
        Ok(targets)
    }

    fn event(&self, name: &str) -> Result<PathBuf, String> {
        let candidates = [
            self.root
                .join(format!("infra/tools/coldstart/events/{name}.json")),
            self.root.join(format!("events/{name}.json")),
        ];
        if name == BASELINE {
            return Ok(self.root.join("events/get-configs.json"));
        }
        candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
            format!("no event for {name}: add events/{name}.json or infra/tools/coldstart/events/{name}.json")
        })
    }
}

fn number(text: &str) -> Result<usize, String> {
    text.parse().map_err(|_| format!("not a number: {text}"))
}

/// The packages under functions/ (a directory with a Cargo.toml each).
fn functions(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join("functions");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Within a round the baseline goes first, then `store`, and `delete-config` last,
/// so that every run of the functions in between finds the stored config and every
/// delete finds one to delete: each run takes the same path.
fn order(names: &mut [String]) {
    let rank = |n: &str| match n {
        BASELINE => 0,
        "store" => 1,
        "delete-config" => 3,
        _ => 2,
    };
    names.sort_by_key(|n| rank(n));
}

/// Variables of a developer's shell that Lambda never sets and that would send the
/// SDK to files Lambda does not have.
const LOCAL_ONLY: [&str; 4] = [
    "AWS_CA_BUNDLE",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
];

/// The environment of every child: the AWS and apikeys variables of this process,
/// the fake providers, and a key-test allowance no benchmark reaches.
pub fn child_env(provider: &str, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            (k.starts_with("AWS_")
                && !k.starts_with("AWS_LAMBDA_")
                && !LOCAL_ONLY.contains(&k.as_str()))
                || k.starts_with("APIKEYS_")
                || k.starts_with("API_KEY_")
                || k == "RUST_LOG"
        })
        .collect();
    let mut set = |k: &str, v: String| {
        env.retain(|(name, _)| name != k);
        env.push((k.to_owned(), v));
    };
    for variable in crate::provider::BASE_URL_VARIABLES {
        set(variable, format!("http://{provider}"));
    }
    set("APIKEYS_KEY_TESTS_PER_MINUTE", "1000000".to_owned());
    if std::env::var_os("RUST_LOG").is_none() {
        set("RUST_LOG", "info".to_owned());
    }
    for (k, v) in extra {
        set(k, v.clone());
    }
    env
}
