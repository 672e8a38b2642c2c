//! The Markdown the harness prints: one row per binary (median, min–max of each
//! measure, stripped sizes), then the budgets of DESIGN.md met or missed.

use std::fmt::Write as _;
use std::time::Duration;

use crate::measure::Sample;

/// The memory at which a Lambda function has one full vCPU
/// (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html>).
const VCPU_MB: f64 = 1769.0;

/// DESIGN.md's budgets.
const INIT_RATIO: f64 = 1.5;
const RSS_RATIO: f64 = 2.0;
const RSS_CEILING_MIB: f64 = 32.0;
const ARM64_NO_CRYPTO_MB: f64 = 6.0;
const ARM64_ANY_MB: f64 = 8.0;

/// The measures of one binary.
#[derive(Debug, Clone)]
pub struct Row {
    /// The package's name, `@variant` appended for another build.
    pub name: String,
    /// The build (`--variant`), empty for the target directory's.
    pub variant: String,
    /// One sample per run.
    pub samples: Vec<Sample>,
    /// Stripped x86_64 release binary, bytes.
    pub x86_64_bytes: Option<u64>,
    /// Stripped arm64 release binary (`cargo lambda build --arm64`), bytes.
    pub arm64_bytes: Option<u64>,
    /// Links the cipher and loads key material (its budgets are looser).
    pub crypto: bool,
    /// The hello-world baseline.
    pub baseline: bool,
}

/// Median, minimum and maximum.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// Of a non-empty list.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    fn cell(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Row {
    fn init(&self) -> Spread {
        Spread::of(self.samples.iter().map(|s| ms(s.init)))
    }
    fn first_response(&self) -> Spread {
        Spread::of(self.samples.iter().map(|s| ms(s.first_response)))
    }
    fn rss_mib(&self) -> Spread {
        Spread::of(self.samples.iter().map(|s| s.peak_rss_kib as f64 / 1024.0))
    }
    fn answers(&self) -> String {
        let mut seen: Vec<&str> = Vec::new();
        for s in &self.samples {
            if !seen.contains(&s.answer.as_str()) {
                seen.push(&s.answer);
            }
        }
        seen.join(", ")
    }
}

fn megabytes(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "—".to_owned(), |b| format!("{:.2} MB", b as f64 / 1e6))
}

/// The results table.
pub fn table(rows: &[Row], runs: usize) -> String {
    let mut out = String::from(
        "| binary | init ms | first response ms | peak RSS MiB | stripped x86_64 | stripped arm64 | answer |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {}{} | {} | {} | {} | {} | {} | {} |",
            row.name,
            if row.crypto { " (crypto)" } else { "" },
            row.init().cell(1),
            row.first_response().cell(1),
            row.rss_mib().cell(1),
            megabytes(row.x86_64_bytes),
            megabytes(row.arm64_bytes),
            row.answers(),
        );
    }
    let _ = writeln!(
        out,
        "\nMedian (min–max) of {runs} cold starts each; init = process start to the first \
         `/next`, first response = process start to the response POST; MB = 10^6 bytes."
    );
    out
}

/// The warm invocations, when any were asked for (`--warm`): each one's time (the
/// event handed out to the response POST) and the CPU time the process spent per
/// invocation, and what that CPU time would take at Lambda's 128 MB share of a vCPU.
pub fn warm_table(rows: &[Row]) -> Option<String> {
    let warm: Vec<&Row> = rows
        .iter()
        .filter(|r| r.samples.iter().any(|s| !s.warm.is_empty()))
        .collect();
    let first = warm.first()?;
    let per_run = first.samples[0].warm.len();
    let mut out = String::from(
        "| binary | warm invocation ms | CPU per invocation ms | CPU at 128 MB ms |\n\
         |---|---:|---:|---:|\n",
    );
    for row in warm {
        let times = Spread::of(
            row.samples
                .iter()
                .flat_map(|s| s.warm.iter().map(|d| ms(*d))),
        );
        let cpu = Spread::of(row.samples.iter().filter_map(|s| s.warm_cpu.map(ms)));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} |",
            row.name,
            times.cell(2),
            cpu.cell(3),
            cpu.median * VCPU_MB / 128.0,
        );
    }
    let _ = writeln!(
        out,
        "\nWarm: {per_run} invocations after each cold start, same event; time median (min–max) \
         over all of them, CPU (every thread, user + system) per invocation as the median \
         (min–max) of each run's average, on this machine's cores. Lambda's CPU share grows \
         with memory, a full vCPU at {VCPU_MB:.0} MB, so at 128 MB CPU-bound time \
         stretches ×{:.1}: the last column (waits on the network do not stretch).",
        VCPU_MB / 128.0
    );
    Some(out)
}

/// One budget: the worst value among the binaries it covers, against its limit.
struct Check {
    budget: String,
    worst: Option<(f64, String)>,
    limit: f64,
    strict: bool,
    unit: &'static str,
}

impl Check {
    fn line(&self) -> String {
        let Some((value, who)) = &self.worst else {
            return format!("| {} | not measured | — |", self.budget);
        };
        let met = if self.strict {
            *value < self.limit
        } else {
            *value <= self.limit
        };
        let verdict = if met {
            "met".to_owned()
        } else {
            format!(
                "missed by {:.2} {} ({:+.0} %)",
                value - self.limit,
                self.unit,
                (value / self.limit - 1.0) * 100.0
            )
        };
        format!(
            "| {} | {value:.2} {} ({who}) | {verdict} |",
            self.budget, self.unit
        )
    }
}

fn worst<'a>(
    rows: impl Iterator<Item = &'a Row>,
    value: impl Fn(&Row) -> Option<f64>,
) -> Option<(f64, String)> {
    rows.filter_map(|r| value(r).map(|v| (v, r.name.clone())))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// The budgets against the medians, with the worst binary of each.
pub fn budgets(rows: &[Row]) -> String {
    let functions = || rows.iter().filter(|r| !r.baseline);
    let no_crypto = || functions().filter(|r| !r.crypto);
    let hello = rows.iter().find(|r| r.baseline);
    let hello_init = hello.map(|h| h.init().median);
    let hello_rss = hello.map(|h| h.rss_mib().median);
    let checks = [
        Check {
            budget: format!("no-crypto init ≤ {INIT_RATIO}× hello"),
            worst: worst(no_crypto(), |r| hello_init.map(|h| r.init().median / h)),
            limit: INIT_RATIO,
            strict: false,
            unit: "×",
        },
        Check {
            budget: format!("no-crypto peak RSS < {RSS_RATIO}× hello"),
            worst: worst(no_crypto(), |r| hello_rss.map(|h| r.rss_mib().median / h)),
            limit: RSS_RATIO,
            strict: true,
            unit: "×",
        },
        Check {
            budget: format!("every function peak RSS < {RSS_CEILING_MIB} MiB"),
            worst: worst(functions(), |r| Some(r.rss_mib().max)),
            limit: RSS_CEILING_MIB,
            strict: true,
            unit: "MiB",
        },
        Check {
            budget: format!("no-crypto stripped arm64 ≤ {ARM64_NO_CRYPTO_MB} MB"),
            worst: worst(no_crypto(), |r| r.arm64_bytes.map(|b| b as f64 / 1e6)),
            limit: ARM64_NO_CRYPTO_MB,
            strict: false,
            unit: "MB",
        },
        Check {
            budget: format!("every function stripped arm64 ≤ {ARM64_ANY_MB} MB"),
            worst: worst(functions(), |r| r.arm64_bytes.map(|b| b as f64 / 1e6)),
            limit: ARM64_ANY_MB,
            strict: false,
            unit: "MB",
        },
    ];
    let mut out = String::from("| budget | measured (worst) | verdict |\n|---|---:|---|\n");
    for check in &checks {
        out.push_str(&check.line());
        out.push('\n');
    }
    out.push_str("\nRatios compare medians; the RSS ceiling takes each function's maximum.\n");
    out
}

/// Date (UTC), cores, CPU model and load, for the line above the table.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned());
    // Other work on the machine shows in the spread: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    );
    format!(
        "{}, {cores} cores (nproc), {cpu}, Linux {kernel}, load average {load} at the end",
        today_utc()
    )
}

/// `YYYY-MM-DD` of now, UTC (the civil-from-days algorithm of H. Hinnant).
fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{warm_table, Row, Spread};
    use crate::measure::Sample;

    fn row(warm: Vec<Duration>, warm_cpu: Option<Duration>) -> Row {
        Row {
            name: "get-configs".into(),
            variant: String::new(),
            samples: vec![Sample {
                init: Duration::from_millis(3),
                first_response: Duration::from_millis(10),
                peak_rss_kib: 6_000,
                answer: "200".into(),
                warm,
                warm_cpu,
            }],
            x86_64_bytes: None,
            arm64_bytes: None,
            crypto: false,
            baseline: false,
        }
    }

    #[test]
    fn warm_figures_appear_only_when_measured_and_stretch_to_lambda_s_share() {
        assert!(warm_table(&[row(Vec::new(), None)]).is_none());
        let ms = Duration::from_millis;
        let table = warm_table(&[row(vec![ms(4), ms(6), ms(5)], Some(ms(2)))])
            .expect("a table for warm samples");
        // Median of the times, the CPU time, and 2 ms × 1769 / 128 = 27.6 ms.
        assert!(
            table.contains("| get-configs | 5.00 (4.00–6.00) | 2.000 (2.000–2.000) | 27.6 |"),
            "{table}"
        );
    }

    #[test]
    fn the_spread_of_an_odd_and_an_even_list() {
        let s = Spread::of([3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Spread::of([4.0, 1.0, 2.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
    }
}
