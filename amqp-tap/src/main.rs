//! `amqp-tap`: decode AMQP 0-9-1 from captures and raw streams, or live
//! through a forwarding proxy.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use amqp_tap::proxy::Proxy;
use amqp_tap::{
    CaptureDecoder, Dir, Format, MethodFilter, Options, Printer, WriterSink, AMQP_PORT,
};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "amqp-tap",
    version,
    about = "Decode AMQP 0-9-1: from pcap/pcapng captures, raw streams, or live through a proxy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode a pcap or pcapng capture (or with --raw, one direction's bytes).
    Decode(DecodeArgs),
    /// Forward connections to a broker unchanged, decoding them live.
    Proxy(ProxyArgs),
}

#[derive(Args)]
struct OutputArgs {
    /// One JSON object per frame (schema in the README).
    #[arg(long)]
    json: bool,
    /// Body bytes to show: per message in text, per body frame in JSON.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_body: usize,
    /// Only frames on this channel (repeatable).
    #[arg(long = "channel", value_name = "N")]
    channels: Vec<u16>,
    /// Only this method and its content frames: class.method, or a class
    /// as `basic` or `basic.*` (repeatable).
    #[arg(long = "method", value_name = "NAME")]
    methods: Vec<MethodFilter>,
    /// Show credentials: connection.start-ok's SASL response (with PLAIN,
    /// the password) and connection.update-secret's secret, masked
    /// otherwise.
    #[arg(long)]
    show_secrets: bool,
}

impl OutputArgs {
    fn printer(self) -> Printer {
        Printer::new(Options {
            format: if self.json {
                Format::Json
            } else {
                Format::Text
            },
            max_body: self.max_body,
            channels: self.channels,
            methods: self.methods,
            show_secrets: self.show_secrets,
        })
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum DirArg {
    C2s,
    S2c,
}

#[derive(Args)]
struct DecodeArgs {
    /// The capture, or the raw stream with --raw; `-` reads standard input.
    file: PathBuf,
    /// FILE holds the bytes of one direction of a connection (starting with
    /// the protocol header or directly with a frame), not a capture.
    #[arg(long)]
    raw: bool,
    /// With --raw: the direction the bytes were sent in.
    #[arg(long, value_enum, default_value = "c2s", requires = "raw")]
    dir: DirArg,
    /// Print statistics instead of frames: counts per method, frames and
    /// bytes per direction, messages per second, publish→confirm latency.
    #[arg(long)]
    stats: bool,
    /// Another port brokers listen on (5672 always counts; repeatable).
    #[arg(long = "port", value_name = "PORT")]
    ports: Vec<u16>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct ProxyArgs {
    /// Address to accept clients on, e.g. 127.0.0.1:5673.
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// The broker, e.g. 127.0.0.1:5672.
    #[arg(long, value_name = "ADDR")]
    upstream: String,
    /// Also write both legs of every connection to this pcap file.
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// After forwarding a request or a reply, poll the socket without
    /// blocking for up to this many microseconds before blocking again:
    /// hides the scheduler's wake-up latency from request/response traffic,
    /// at the cost of CPU time while it flows (Linux only). Bulk traffic is
    /// never polled for. 0 always blocks.
    #[arg(long, value_name = "MICROSECONDS", default_value_t = amqp_tap::proxy::DEFAULT_SPIN.as_micros() as u64)]
    spin_us: u64,
    /// Forward bulk data as it comes, segment by segment, instead of in
    /// batches of up to 32 KiB held back at most 2 ms, and the confirms of
    /// a deep publishing pipeline as they come instead of once a
    /// millisecond (both spare the CPU; requests and replies are never held
    /// back either way).
    #[arg(long)]
    no_coalescing: bool,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => decode(args),
        Command::Proxy(args) => proxy(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `amqp-tap decode ... | head` is not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("amqp-tap: {e}");
            ExitCode::FAILURE
        }
    }
}

fn open_input(path: &PathBuf) -> io::Result<Box<dyn Read + Send>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(io::stdin()))
    } else {
        File::open(path)
            .map(|f| Box::new(f) as Box<dyn Read + Send>)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }
}

fn decode(args: DecodeArgs) -> io::Result<()> {
    let input = open_input(&args.file)?;
    // Standard input may be a live capture (`tcpdump -w - | amqp-tap decode -`).
    let live = args.file.as_os_str() == "-";
    let stdout = io::stdout().lock();
    let max_body = args.output.max_body;
    let mut sink = WriterSink::new(args.output.printer(), stdout, live);
    if args.stats {
        sink = sink.with_stats();
    }
    if args.raw {
        let dir = match args.dir {
            DirArg::C2s => Dir::C2S,
            DirArg::S2c => Dir::S2C,
        };
        amqp_tap::decode_raw(input, dir, &mut sink)?;
    } else {
        let mut ports = vec![AMQP_PORT];
        ports.extend(args.ports);
        let report = CaptureDecoder::new(ports)
            .with_body_limit(max_body)
            .read(input, &mut sink)
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", args.file.display()),
                )
            })?;
        if let Some(what) = report.truncation() {
            eprintln!("amqp-tap: {what}");
        }
        if report.unsupported_link > 0 {
            eprintln!(
                "amqp-tap: {} packets of an unsupported link type were skipped",
                report.unsupported_link
            );
        }
        if report.fragments > 0 {
            eprintln!(
                "amqp-tap: {} IP fragments were skipped (fragments are not reassembled)",
                report.fragments
            );
        }
    }
    sink.into_inner()?.flush()
}

fn proxy(args: ProxyArgs) -> io::Result<()> {
    let printer = args.output.printer();
    let proxy = Proxy::bind(&args.listen, &args.upstream, printer)?
        .with_spin(std::time::Duration::from_micros(args.spin_us))
        .with_coalescing(!args.no_coalescing);
    let pcap = match &args.write {
        Some(p) => {
            let f = File::create(p)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            Some(Box::new(BufWriter::new(f)) as Box<dyn Write + Send>)
        }
        None => None,
    };
    eprintln!(
        "amqp-tap: listening on {}, forwarding to {}",
        proxy.local_addr()?,
        args.upstream
    );
    proxy.serve(Box::new(io::stdout()), pcap)
}
