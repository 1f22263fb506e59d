//! `amqp-conform`: the rules table, and the broker cases against a broker.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use amqp_conform::deviations::Deviations;
use amqp_conform::run::{self, Config};
use amqp_conform::{cases, client, report, rules, Target};
use clap::{Parser, Subcommand, ValueEnum};

/// Conformance testing of AMQP 0-9-1 brokers against the specification.
#[derive(Parser)]
#[command(name = "amqp-conform", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints every rule of the specification with its level and how it is tested.
    Rules,
    /// Runs the broker cases against the broker at URI.
    Broker {
        /// amqp://user:password@host:port/vhost, or
        /// amqps://user:password@host:port/vhost?cacertfile=CA.pem
        /// (also verify=verify_none, server_name_indication=NAME)
        uri: String,
        /// Seconds to wait for each expected reply.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
        /// Cases run at once.
        #[arg(long, default_value_t = 8)]
        jobs: usize,
        /// Only these cases: an id, a class, or an id prefix ending in '.'
        /// (repeatable).
        #[arg(long = "case", value_name = "ID|CLASS")]
        filters: Vec<String>,
        /// A JSON file listing the broker's known deviations: a listed
        /// case that fails is an expected failure, one that passes an
        /// unexpected pass.
        #[arg(long, value_name = "FILE")]
        deviations: Option<PathBuf>,
        /// Treat an unexpected pass as a failure.
        #[arg(long)]
        strict: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Grades a client: serves each scenario from a scripted broker and
    /// runs the driver against it (or serves one scenario on --listen).
    Client {
        /// The driver, a shell command run once per scenario with AMQP_URI
        /// and AMQP_CONFORM_SCENARIO in its environment.
        #[arg(long, value_name = "CMD", required_unless_present = "listen")]
        driver: Option<String>,
        /// Only these scenarios (repeatable; all by default).
        #[arg(long = "scenario", value_name = "ID")]
        scenarios: Vec<String>,
        /// Serve one scenario on this address (for a driver run by hand)
        /// and print the frames, instead of spawning a driver.
        #[arg(long, value_name = "ADDR", conflicts_with = "driver")]
        listen: Option<String>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
}

/// How the results are printed.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A line per case, grouped by class.
    Text,
    /// One JSON document.
    Json,
    /// JUnit XML.
    Junit,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Client {
            driver,
            scenarios,
            listen,
            json,
        } => client_mode(driver, &scenarios, listen, json),
        Command::Rules => {
            print!("{}", rules::render(&rules::table()));
            ExitCode::SUCCESS
        }
        Command::Broker {
            uri,
            timeout,
            jobs,
            filters,
            deviations,
            strict,
            format,
        } => {
            let target = match Target::parse(&uri) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("amqp-conform: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = target.check_tls() {
                eprintln!("amqp-conform: TLS: {e}");
                return ExitCode::from(2);
            }
            if !(timeout.is_finite() && timeout > 0.0) {
                eprintln!("amqp-conform: --timeout must be a positive number of seconds");
                return ExitCode::from(2);
            }
            let selected: Vec<_> = cases::all()
                .into_iter()
                .filter(|c| run::selected(c, &filters))
                .collect();
            if selected.is_empty() {
                eprintln!("amqp-conform: no case matches {filters:?}");
                return ExitCode::from(2);
            }
            let config = Config {
                target,
                timeout: Duration::from_secs_f64(timeout),
                jobs,
            };
            let deviations = match &deviations {
                Some(path) => match Deviations::load(path, |id| cases::find(id).is_some()) {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("amqp-conform: {e}");
                        return ExitCode::from(2);
                    }
                },
                None => Deviations::default(),
            };
            let reports = run::run(&selected, &config);
            let judged = report::judge(&reports, &deviations);
            let out = match format {
                Format::Text => report::text(&judged, strict),
                Format::Json => report::json(&judged, &deviations, strict),
                Format::Junit => report::junit(&judged, strict),
            };
            print!("{out}");
            if report::any_unexpected(&judged, strict) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

/// `amqp-conform client`.
fn client_mode(
    driver: Option<String>,
    ids: &[String],
    listen: Option<String>,
    json: bool,
) -> ExitCode {
    let mut selected = Vec::new();
    for id in ids {
        match client::find(id) {
            Some(s) => selected.push(s),
            None => {
                let known: Vec<_> = client::scenarios().iter().map(|s| s.id).collect();
                eprintln!(
                    "amqp-conform: no scenario {id} (known: {})",
                    known.join(", ")
                );
                return ExitCode::from(2);
            }
        }
    }
    if let Some(addr) = listen {
        let [scenario] = selected[..] else {
            eprintln!("amqp-conform: --listen serves exactly one --scenario");
            return ExitCode::from(2);
        };
        let echo = Box::new(|l: &client::WireLine| {
            println!("{:>8.3} {:<6} {}", l.at.as_secs_f64(), l.from, l.what);
        });
        let broker = match client::Broker::start_with(&addr, scenario, Some(echo)) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("amqp-conform: listen on {addr}: {e}");
                return ExitCode::from(2);
            }
        };
        println!(
            "serving scenario {} on port {}: {}\nrequired of the client: {}",
            scenario.id,
            broker.port(),
            scenario.title,
            scenario.requires
        );
        loop {
            std::thread::park();
        }
    }
    let Some(driver) = driver else {
        eprintln!("amqp-conform: --driver or --listen is required");
        return ExitCode::from(2);
    };
    if selected.is_empty() {
        selected = client::scenarios();
    }
    let reports = client::run(&selected, &driver, &client::Limits::default());
    if json {
        print!("{}", client::json(&reports));
    } else {
        print!("{}", client::text(&reports));
    }
    if reports.iter().all(|r| r.verdict == client::Verdict::Pass) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
