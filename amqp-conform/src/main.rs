//! `amqp-conform`: the rules table, and the broker cases against a broker.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use amqp_conform::run::{self, Config, Outcome};
use amqp_conform::{cases, rules, Target};
use clap::{Parser, Subcommand};

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
        /// amqp://user:password@host:port/vhost
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
    },
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
        } => {
            let target = match Target::parse(&uri) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("amqp-conform: {e}");
                    return ExitCode::from(2);
                }
            };
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
            let reports = run::run(&selected, &config);
            let mut class = "";
            for r in &reports {
                if r.case.class != class {
                    class = r.case.class;
                    println!("{class}");
                }
                println!(
                    "  {:<5} {:<6} {:<45} {}",
                    r.outcome.label(),
                    r.case.level,
                    r.case.id,
                    r.case.title
                );
                match &r.outcome {
                    Outcome::Fail {
                        expected,
                        observed,
                        frames,
                    } => {
                        println!("        expected: {expected}");
                        println!("        observed: {observed}");
                        for f in frames {
                            println!("          {f}");
                        }
                    }
                    Outcome::NotApplicable(why) => println!("        {why}"),
                    Outcome::Pass => {}
                }
            }
            let count = |l: &str| reports.iter().filter(|r| r.outcome.label() == l).count();
            println!(
                "\n{} cases: {} passed, {} failed, {} not applicable",
                reports.len(),
                count("pass"),
                count("FAIL"),
                count("n/a")
            );
            if count("FAIL") > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
