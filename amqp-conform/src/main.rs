//! `amqp-conform`: the rules table, and the broker cases against a broker.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use amqp_conform::deviations::Deviations;
use amqp_conform::run::{self, Config};
use amqp_conform::{cases, report, rules, Target};
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
