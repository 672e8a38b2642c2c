//! `coldstart`: each release binary started N times against a local Lambda Runtime
//! API (and whatever AWS endpoint the environment names, the emulator), with init
//! time, first-response time and peak RSS as median, min and max, the stripped
//! binary sizes, and DESIGN.md's budgets, printed as Markdown.

mod http;
mod measure;
mod options;
mod provider;
mod report;
mod runtime_api;

use std::process::ExitCode;

use measure::{cold_start, Launch};
use options::{Options, BASELINE, USAGE};
use report::Row;
use runtime_api::RuntimeApi;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("coldstart: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let Some(options) = Options::parse(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    let targets = options.targets()?;
    let api = RuntimeApi::start().map_err(|e| format!("Runtime API: {e}"))?;
    let provider = provider::start().map_err(|e| format!("fake provider: {e}"))?;
    let launch = Launch {
        env: options::child_env(&provider.to_string(), &options.extra_env),
        log_dir: options.log_dir(),
        timeout: options.timeout,
        warm: options.warm,
    };
    std::fs::create_dir_all(&launch.log_dir).map_err(|e| format!("{e}"))?;
    for target in &targets {
        let _ = std::fs::remove_file(launch.log_dir.join(format!("{}.log", target.label())));
    }

    // Round-robin, so slow drift of the machine spreads over every binary alike.
    let mut samples = vec![Vec::new(); targets.len()];
    let mut run = 0u64;
    for round in 0..options.warmup + options.runs {
        for (i, target) in targets.iter().enumerate() {
            run += 1;
            let sample = cold_start(&api, target, &launch, run)
                .map_err(|e| format!("{} (round {}): {e}", target.name, round + 1))?;
            if round >= options.warmup {
                samples[i].push(sample);
            }
        }
        eprint!(
            "\rcoldstart: round {}/{}",
            round + 1,
            options.warmup + options.runs
        );
    }
    eprintln!();

    let size = |path: &std::path::Path| std::fs::metadata(path).ok().map(|m| m.len());
    let rows: Vec<Row> = targets
        .iter()
        .zip(samples)
        .map(|(target, samples)| Row {
            name: target.label(),
            variant: target.variant.clone(),
            samples,
            x86_64_bytes: size(&target.binary),
            arm64_bytes: size(&target.arm64),
            crypto: options.crypto.contains(&target.name),
            baseline: target.name == BASELINE,
        })
        .collect();

    println!("Cold starts, {}\n", report::machine());
    println!("{}", report::table(&rows, options.runs));
    if let Some(warm) = report::warm_table(&rows) {
        println!("{warm}");
    }
    let mut variants: Vec<&str> = Vec::new();
    for row in &rows {
        if !variants.contains(&row.variant.as_str()) {
            variants.push(&row.variant);
        }
    }
    for variant in variants {
        let of_variant: Vec<Row> = rows
            .iter()
            .filter(|r| r.variant == variant)
            .cloned()
            .collect();
        if !variant.is_empty() {
            println!("Budgets of @{variant}:\n");
        }
        println!("{}", report::budgets(&of_variant));
    }
    Ok(())
}
