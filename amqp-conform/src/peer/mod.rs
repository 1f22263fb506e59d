//! A scripted broker: a TCP server on 127.0.0.1 whose every connection runs
//! a script, for the tests that need a broker RabbitMQ cannot be made to be
//! (one that answers with another protocol version, declares a body of
//! 2^63 bytes, sends a heartbeat on channel 1, never replies, ...).
//!
//! It depends on `amqp-protocol` and `std` only, not on the client, so that
//! it can grade any client.
//!
//! - [`ScriptedBroker::start`] listens on an OS-chosen port and runs the
//!   script on a thread of its own for each accepted connection;
//!   [`ScriptedBroker::join`] (or dropping it) stops listening, waits for
//!   the scripts and fails the test with any script's error or panic.
//! - [`Peer`] is the server's side of one connection: the protocol header,
//!   a standard [`handshake`](Peer::handshake) (configurable with
//!   [`HandshakeOptions`]), frames and methods in and out (malformed ones
//!   included, as raw bytes), and the close handshake.
//! - [`Peer::serve`] answers the ordinary requests as RabbitMQ would, and
//!   calls a hook for every incoming method first: the hook decides whether
//!   the standard answer goes out ([`Action::Answer`]), or does something
//!   else through the [`Server`] it is given ([`Action::Handled`]).
//!
//! It is the machinery under [`client`](crate::client)'s scripted broker,
//! and the scripted broker of the client regression tests of this
//! repository.
//!
//! # Example
//!
//! A broker that answers the protocol header with AMQP 0-10's, and a raw
//! client that reads it:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use amqp_conform::peer::ScriptedBroker;
//!
//! let broker = ScriptedBroker::start(|mut peer| {
//!     peer.read_protocol_header()?;
//!     peer.send_raw(b"AMQP\x01\x01\x00\x0a")?;
//!     peer.close_socket();
//!     Ok(())
//! });
//! let mut client = TcpStream::connect(broker.addr()).unwrap();
//! client.write_all(b"AMQP\x00\x00\x09\x01").unwrap();
//! let mut answer = Vec::new();
//! client.read_to_end(&mut answer).unwrap();
//! assert_eq!(answer, b"AMQP\x01\x01\x00\x0a");
//! broker.join(); // fails here if the script failed
//! ```

mod serve;

use std::fmt;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use amqp_protocol::{
    connection, encode_content, encode_method_frame, Assembled, Assembler, BasicProperties,
    FieldTable, FieldValue, Frame, FrameDecoder, FramePayload, LongStr, Method, ProtocolHeader,
    ReplyCode, ShortStr,
};
use bytes::{Bytes, BytesMut};

pub use serve::{Action, Ended, Server};

/// Why a script failed: what it expected and what happened instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerError(pub String);

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerError {}

impl From<std::io::Error> for PeerError {
    fn from(e: std::io::Error) -> Self {
        PeerError(format!("socket: {e}"))
    }
}

impl From<amqp_protocol::Error> for PeerError {
    fn from(e: amqp_protocol::Error) -> Self {
        PeerError(format!("{UNDECODABLE}: {e}"))
    }
}

const UNDECODABLE: &str = "the client sent something undecodable";

impl PeerError {
    /// Whether the client's bytes did not decode (rather than the socket
    /// failing or the time running out).
    pub fn is_undecodable(&self) -> bool {
        self.0.starts_with(UNDECODABLE)
    }
}

impl From<String> for PeerError {
    fn from(s: String) -> Self {
        PeerError(s)
    }
}

impl From<&str> for PeerError {
    fn from(s: &str) -> Self {
        PeerError(s.to_owned())
    }
}

/// What scripts return.
pub type PeerResult<T> = Result<T, PeerError>;

/// Fails the script with `what` unless `condition` holds.
pub fn ensure(condition: bool, what: impl Into<String>) -> PeerResult<()> {
    if condition {
        Ok(())
    } else {
        Err(PeerError(what.into()))
    }
}

type Script = dyn Fn(Peer) -> PeerResult<()> + Send + Sync;

/// A listener on 127.0.0.1 running a script per accepted connection. See
/// the [module docs](self).
pub struct ScriptedBroker {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    listener: Option<JoinHandle<()>>,
    scripts: Arc<Mutex<Vec<JoinHandle<PeerResult<()>>>>>,
}

impl fmt::Debug for ScriptedBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedBroker")
            .field("addr", &self.addr)
            .field("accepted", &self.accepted())
            .finish_non_exhaustive()
    }
}

impl ScriptedBroker {
    /// Listens on a free port of 127.0.0.1, and runs `script` for every
    /// connection accepted. Panics when it cannot listen (for tests; see
    /// [`listen`](Self::listen)).
    pub fn start(script: impl Fn(Peer) -> PeerResult<()> + Send + Sync + 'static) -> Self {
        Self::start_n(usize::MAX, script)
    }

    /// Listens, and runs `script` for the first `n` connections; later ones
    /// are closed at once. Panics when it cannot listen.
    pub fn start_n(
        n: usize,
        script: impl Fn(Peer) -> PeerResult<()> + Send + Sync + 'static,
    ) -> Self {
        Self::listen("127.0.0.1:0", n, script).expect("the scripted broker listens")
    }

    /// Listens on `addr` (`127.0.0.1:0` for a free port), and runs `script`
    /// for the first `n` connections; later ones are closed at once.
    pub fn listen(
        addr: &str,
        n: usize,
        script: impl Fn(Peer) -> PeerResult<()> + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let scripts: Arc<Mutex<Vec<JoinHandle<PeerResult<()>>>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let (s, a, handles) = (stop.clone(), accepted.clone(), scripts.clone());
        // Polled, so that stopping first accepts every connection a client
        // completed before: each runs its script.
        listener.set_nonblocking(true)?;
        let listener = std::thread::spawn(move || loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::WouldBlock && s.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
            };
            let index = a.fetch_add(1, Ordering::SeqCst);
            if index >= n || stream.set_nonblocking(false).is_err() {
                continue;
            }
            let script = script.clone();
            let handle = std::thread::spawn(move || script(Peer::new(stream)?));
            handles
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(handle);
        });
        Ok(ScriptedBroker {
            addr,
            stop,
            accepted,
            listener: Some(listener),
            scripts,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/`.
    pub fn uri(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/", self.port())
    }

    /// How many connections it accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops listening, waits for every script to end, and panics with the
    /// failures of those that failed (errors and panics alike).
    pub fn join(mut self) {
        if let Err(failures) = self.finish() {
            panic!("scripted broker on {}: {failures}", self.addr);
        }
    }

    fn finish(&mut self) -> Result<(), String> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        self.stop.store(true, Ordering::SeqCst);
        let _ = listener.join();
        let handles = std::mem::take(&mut *self.scripts.lock().unwrap_or_else(|e| e.into_inner()));
        let mut failures = Vec::new();
        for (i, handle) in handles.into_iter().enumerate() {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("connection {i}: script failed: {e}")),
                Err(panic) => {
                    let text = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    failures.push(format!("connection {i}: script panicked: {text}"));
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

impl Drop for ScriptedBroker {
    fn drop(&mut self) {
        if let Err(failures) = self.finish() {
            // A test already failing says why; a second panic would abort.
            if !std::thread::panicking() {
                panic!("scripted broker on {}: {failures}", self.addr);
            }
        }
    }
}

/// The server's announcements in the handshake.
#[derive(Debug, Clone)]
pub struct HandshakeOptions {
    /// connection.start's server properties.
    pub server_properties: FieldTable,
    /// The SASL mechanisms offered (space-separated).
    pub mechanisms: String,
    /// connection.tune's channel-max.
    pub channel_max: u16,
    /// connection.tune's frame-max.
    pub frame_max: u32,
    /// connection.tune's heartbeat (seconds).
    pub heartbeat: u16,
}

impl Default for HandshakeOptions {
    /// What RabbitMQ 3.x announces (heartbeat off, so that scripts need not
    /// answer heartbeats).
    fn default() -> Self {
        let mut capabilities = FieldTable::new();
        for c in [
            "publisher_confirms",
            "exchange_exchange_bindings",
            "basic.nack",
            "consumer_cancel_notify",
            "connection.blocked",
            "consumer_priorities",
            "authentication_failure_close",
            "per_consumer_qos",
            "direct_reply_to",
        ] {
            capabilities.insert(c, true);
        }
        let mut server_properties = FieldTable::new();
        server_properties.insert("capabilities", FieldValue::from(capabilities));
        server_properties.insert("product", FieldValue::from(LongStr::from("RabbitMQ")));
        server_properties.insert("version", FieldValue::from(LongStr::from("3.10.0")));
        server_properties.insert("platform", FieldValue::from(LongStr::from("scripted")));
        HandshakeOptions {
            server_properties,
            mechanisms: "PLAIN AMQPLAIN".into(),
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 0,
        }
    }
}

/// What the client said in the handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Its protocol header.
    pub header: [u8; 8],
    /// Its connection.start-ok.
    pub start_ok: connection::StartOk,
    /// Its connection.tune-ok.
    pub tune_ok: connection::TuneOk,
    /// Its connection.open.
    pub open: connection::Open,
}

/// A method from the client, with its content when it carries one.
#[derive(Debug, Clone)]
pub struct Command {
    /// The channel.
    pub channel: u16,
    /// The method.
    pub method: Method,
    /// The content's properties and body (basic.publish).
    pub content: Option<(BasicProperties, Bytes)>,
}

/// The server's side of one connection. Every wait is bounded by
/// [`timeout`](Self::set_timeout) (5 s unless set).
pub struct Peer {
    stream: TcpStream,
    input: BytesMut,
    decoder: FrameDecoder,
    assembler: Assembler,
    frame_max: u32,
    timeout: Duration,
    sent: u64,
    heartbeats: u64,
    /// The client closed its side of the TCP connection.
    eof: bool,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("client", &self.stream.peer_addr().ok())
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Peer {
    fn new(stream: TcpStream) -> PeerResult<Peer> {
        stream.set_nodelay(true)?;
        Ok(Peer {
            stream,
            input: BytesMut::with_capacity(64 * 1024),
            decoder: FrameDecoder::new(131_072),
            assembler: Assembler::new(),
            frame_max: 131_072,
            timeout: Duration::from_secs(5),
            sent: 0,
            heartbeats: 0,
            eof: false,
        })
    }

    /// Sets the longest wait for the client.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// How many bytes were sent to the client so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Sets the largest frame accepted from the client, and the size
    /// content is split at (the handshake sets it to what was agreed).
    pub fn set_frame_max(&mut self, frame_max: u32) {
        self.frame_max = frame_max;
        self.decoder.set_max_frame_size(frame_max);
    }

    /// Drops what was read and not decoded, and decodes afresh from the
    /// next bytes (after bytes that did not decode).
    pub fn discard_input(&mut self) {
        self.input.clear();
        self.decoder = FrameDecoder::new(self.decoder.max_frame_size());
    }

    /// Whether the client closed its side of the connection.
    pub fn client_closed(&self) -> bool {
        self.eof
    }

    /// The socket, for what the methods do not cover: socket options,
    /// writes that may stop part-way, a reset.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// How many heartbeat frames the client sent so far.
    pub fn heartbeats_received(&self) -> u64 {
        self.heartbeats
    }

    /// The frame size used to split content (the negotiated one after the
    /// handshake).
    pub fn frame_max(&self) -> u32 {
        self.frame_max
    }

    // ------------------------------------------------------------ reading

    /// Reads once from the socket within `wait`: `Ok(false)` when nothing
    /// came in time; an error at the end of the stream.
    fn fill(&mut self, wait: Duration) -> PeerResult<bool> {
        self.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let mut buf = [0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.eof = true;
                Err("the client closed the connection".into())
            }
            Ok(n) => {
                self.input.extend_from_slice(&buf[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the client's 8-byte protocol header.
    pub fn read_protocol_header(&mut self) -> PeerResult<[u8; 8]> {
        let deadline = Instant::now() + self.timeout;
        while self.input.len() < 8 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("no protocol header from the client in time".into());
            }
            self.fill(left)?;
        }
        let mut header = [0u8; 8];
        header.copy_from_slice(&self.input.split_to(8));
        Ok(header)
    }

    /// The client's 8-byte protocol header if it came within `wait`;
    /// `None` when it did not (the bytes read so far are kept).
    pub fn try_read_protocol_header(&mut self, wait: Duration) -> PeerResult<Option<[u8; 8]>> {
        let deadline = Instant::now() + wait;
        while self.input.len() < 8 {
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.fill(left)? && Instant::now() >= deadline {
                return Ok(None);
            }
        }
        let mut header = [0u8; 8];
        header.copy_from_slice(&self.input.split_to(8));
        Ok(Some(header))
    }

    /// The next frame, heartbeats included, within `wait`; `None` when none
    /// came in time.
    pub fn try_recv_frame_raw(&mut self, wait: Duration) -> PeerResult<Option<Frame>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.input)? {
                return Ok(Some(frame));
            }
            // One read even when the time is up: a zero wait polls.
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.fill(left)? && Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// The next frame other than a heartbeat, within `wait`.
    pub fn try_recv_frame(&mut self, wait: Duration) -> PeerResult<Option<Frame>> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_recv_frame_raw(left)? {
                Some(f) if matches!(f.payload, FramePayload::Heartbeat) => self.heartbeats += 1,
                other => return Ok(other),
            }
        }
    }

    /// The next frame other than a heartbeat; an error when none comes in
    /// time.
    pub fn recv_frame(&mut self) -> PeerResult<Frame> {
        self.try_recv_frame(self.timeout)?.ok_or_else(|| {
            PeerError(format!(
                "no frame from the client within {:?}",
                self.timeout
            ))
        })
    }

    /// The next method (with its content, when it carries one), within
    /// `wait`; heartbeats are skipped.
    pub fn try_recv(&mut self, wait: Duration) -> PeerResult<Option<Command>> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(frame) = self.try_recv_frame(left)? else {
                return Ok(None);
            };
            match self.assembler.handle_frame(frame)? {
                None | Some(Assembled::Heartbeat) => {}
                Some(Assembled::Method { channel, method }) => {
                    return Ok(Some(Command {
                        channel,
                        method,
                        content: None,
                    }))
                }
                Some(Assembled::Content { channel, content }) => {
                    let properties = content.header.basic().cloned().unwrap_or_default();
                    return Ok(Some(Command {
                        channel,
                        method: content.method,
                        content: Some((properties, content.body)),
                    }));
                }
            }
        }
    }

    /// The next method; an error when none comes in time.
    pub fn recv(&mut self) -> PeerResult<Command> {
        self.try_recv(self.timeout)?.ok_or_else(|| {
            PeerError(format!(
                "no method from the client within {:?}",
                self.timeout
            ))
        })
    }

    /// The next method, which must be `name` (`"channel.open"`, ...).
    pub fn expect(&mut self, name: &str) -> PeerResult<Command> {
        let command = self.recv()?;
        ensure(
            command.method.name() == name,
            format!("expected {name}, the client sent {:?}", command.method),
        )?;
        Ok(command)
    }

    /// Waits until the client closes the TCP connection (whatever it sends
    /// meanwhile is discarded); an error when it does not within the
    /// timeout.
    pub fn expect_eof(&mut self) -> PeerResult<()> {
        let deadline = Instant::now() + self.timeout;
        loop {
            self.input.clear();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("the client did not close the TCP connection in time".into());
            }
            match self.fill(left) {
                Ok(_) => {}
                Err(_) => return Ok(()),
            }
        }
    }

    /// Waits for the client's connection.close (skipping everything else),
    /// answers close-ok, and returns it.
    pub fn expect_close(&mut self) -> PeerResult<connection::Close> {
        loop {
            let frame = self.recv_frame()?;
            if let FramePayload::Method(Method::ConnectionClose(close)) = frame.payload {
                self.send_method(0, connection::CloseOk {})?;
                return Ok(close);
            }
        }
    }

    // ------------------------------------------------------------ writing

    /// Writes `bytes` as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> PeerResult<()> {
        self.stream.write_all(bytes)?;
        self.sent += bytes.len() as u64;
        Ok(())
    }

    /// Writes a frame of any type with this payload (a malformed one, if
    /// asked): type, channel, size, payload, frame-end 0xCE.
    pub fn send_raw_frame(
        &mut self,
        frame_type: u8,
        channel: u16,
        payload: &[u8],
    ) -> PeerResult<()> {
        let size = u32::try_from(payload.len()).map_err(|_| "payload over 4 GiB")?;
        let mut buf = Vec::with_capacity(payload.len() + 8);
        buf.push(frame_type);
        buf.extend_from_slice(&channel.to_be_bytes());
        buf.extend_from_slice(&size.to_be_bytes());
        buf.extend_from_slice(payload);
        buf.push(amqp_protocol::constants::FRAME_END);
        self.send_raw(&buf)
    }

    /// Writes a frame.
    pub fn send_frame(&mut self, frame: &Frame) -> PeerResult<()> {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        self.send_raw(&buf)
    }

    /// Writes a method frame.
    pub fn send_method(&mut self, channel: u16, method: impl Into<Method>) -> PeerResult<()> {
        let mut buf = BytesMut::new();
        encode_method_frame(&mut buf, channel, &method.into());
        self.send_raw(&buf)
    }

    /// Writes a method with content: the method, the header and the body
    /// split at the frame size.
    pub fn send_content(
        &mut self,
        channel: u16,
        method: impl Into<Method>,
        properties: &BasicProperties,
        body: &[u8],
    ) -> PeerResult<()> {
        let mut buf = BytesMut::new();
        encode_content(
            &mut buf,
            channel,
            &method.into(),
            properties,
            body,
            self.frame_max,
        );
        self.send_raw(&buf)
    }

    // ---------------------------------------------------------- handshake

    /// The standard handshake with [`HandshakeOptions::default`].
    pub fn handshake(&mut self) -> PeerResult<Handshake> {
        self.handshake_with(&HandshakeOptions::default())
    }

    /// Reads the protocol header (which must be 0-9-1's), sends start, reads
    /// start-ok, sends tune, reads tune-ok and open, sends open-ok.
    pub fn handshake_with(&mut self, options: &HandshakeOptions) -> PeerResult<Handshake> {
        let header = self.read_protocol_header()?;
        ensure(
            header == ProtocolHeader::AMQP_0_9_1.to_bytes(),
            format!(
                "the client sent the protocol header {:?}",
                header.escape_ascii().to_string()
            ),
        )?;
        self.send_method(
            0,
            connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: options.server_properties.clone(),
                mechanisms: LongStr::from(options.mechanisms.as_str()),
                locales: LongStr::from("en_US"),
            },
        )?;
        let Method::ConnectionStartOk(start_ok) = self.expect("connection.start-ok")?.method else {
            unreachable!("checked by expect")
        };
        self.send_method(
            0,
            connection::Tune {
                channel_max: options.channel_max,
                frame_max: options.frame_max,
                heartbeat: options.heartbeat,
            },
        )?;
        let Method::ConnectionTuneOk(tune_ok) = self.expect("connection.tune-ok")?.method else {
            unreachable!("checked by expect")
        };
        if tune_ok.frame_max != 0 {
            self.frame_max = tune_ok.frame_max;
            self.decoder.set_max_frame_size(tune_ok.frame_max);
        }
        let Method::ConnectionOpen(open) = self.expect("connection.open")?.method else {
            unreachable!("checked by expect")
        };
        self.send_method(0, connection::OpenOk::default())?;
        Ok(Handshake {
            header,
            start_ok,
            tune_ok,
            open,
        })
    }

    // -------------------------------------------------------------- ending

    /// Sends connection.close and waits for close-ok (skipping anything
    /// else).
    pub fn close(&mut self, code: ReplyCode, text: &str) -> PeerResult<()> {
        self.send_method(
            0,
            connection::Close {
                reply_code: code.0,
                reply_text: short(text),
                class_id: 0,
                method_id: 0,
            },
        )?;
        loop {
            let frame = self.recv_frame()?;
            if let FramePayload::Method(Method::ConnectionCloseOk(_)) = frame.payload {
                return Ok(());
            }
        }
    }

    /// Closes the TCP connection at once (both directions).
    pub fn close_socket(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// `text` as a short string, cut at 255 bytes.
pub fn short(text: &str) -> ShortStr {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    ShortStr::try_from(&text[..end]).unwrap_or_default()
}
