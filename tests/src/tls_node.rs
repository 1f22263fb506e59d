//! A second RabbitMQ node with a TLS listener, for the live TLS tests: its
//! own node name, free ports, data, logs, configuration and Erlang cookie,
//! all in a temporary directory of its own run, and its own epmd on a free
//! port, so the main broker and any other run of these tests are left alone.
//!
//! [`TlsNode::start`] makes the certificates with the `openssl` command (a
//! CA, a server certificate for `localhost` and `127.0.0.1`, a client
//! certificate whose common name is [`TlsNode::CLIENT_USER`], and an
//! unrelated CA with a client certificate of its own), starts the node with
//! the `rabbitmq_auth_mechanism_ssl` plugin (PLAIN, AMQPLAIN and EXTERNAL;
//! peers verified when they present a certificate, not required to), waits
//! for it, and creates the client certificate's user. It panics, with the
//! node's output, when any of that fails: a missing node is a failure, not a
//! skipped test. Dropping the [`TlsNode`] stops the node (killing it if it
//! does not stop) and its epmd, and removes the directory, also while a
//! failed test unwinds.
//!
//! The node runs on this machine: the tests that use it fail, saying so,
//! when `AMQP_TEST_URL` points at a broker elsewhere (where RabbitMQ is
//! likely not installed here).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{must, rabbitmq_scripts, random, run};

/// A running TLS node; stopped and removed on drop.
#[derive(Debug)]
pub struct TlsNode {
    dir: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    name: String,
    ports: Ports,
}

/// The node's listeners, all on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
struct Ports {
    tls: u16,
    amqp: u16,
    dist: u16,
    epmd: u16,
}

/// How long the node may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a `rabbitmqctl` or `openssl` command may take.
const CTL_TIMEOUT: Duration = Duration::from_secs(30);

impl TlsNode {
    /// The common name of the client certificate, a user of the node with
    /// every permission on `/`.
    pub const CLIENT_USER: &'static str = "amqp-tls-client";

    /// Makes the certificates and starts the node; panics with the reason
    /// (and the node's output) when it cannot.
    pub fn start() -> TlsNode {
        crate::live::require_local_broker(
            "it starts a RabbitMQ node of its own with a TLS listener, from the local installation",
        );
        let bin = rabbitmq_scripts();
        let run = format!("{}-{:08x}", std::process::id(), random() as u32);
        let dir = std::env::temp_dir().join(format!("amqp-tls-test-node-{run}"));
        let mut node = TlsNode {
            dir,
            bin,
            child: None,
            name: format!("amqp-tls-test-{run}@localhost"),
            ports: free_ports(),
        };
        for sub in ["", "home", "mnesia", "log", "certs"] {
            must(
                fs::create_dir_all(node.dir.join(sub)),
                "create the node's directory",
            );
        }
        node.make_certificates();
        node.write_config();
        node.spawn();
        node.await_startup();
        let password = format!("{:016x}", random());
        node.must_ctl(&["add_user", Self::CLIENT_USER, &password]);
        node.must_ctl(&[
            "set_permissions",
            "-p",
            "/",
            Self::CLIENT_USER,
            ".*",
            ".*",
            ".*",
        ]);
        node
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The TLS (`amqps`) listener's port, on 127.0.0.1.
    pub fn tls_port(&self) -> u16 {
        self.ports.tls
    }

    /// The plain AMQP listener's port, on 127.0.0.1.
    pub fn amqp_port(&self) -> u16 {
        self.ports.amqp
    }

    /// The CA (PEM) that signed the node's certificate and the client's.
    pub fn ca(&self) -> PathBuf {
        self.cert("ca.pem")
    }

    /// A CA (PEM) that signed neither.
    pub fn other_ca(&self) -> PathBuf {
        self.cert("other-ca.pem")
    }

    /// The client certificate (PEM), common name [`Self::CLIENT_USER`].
    pub fn client_cert(&self) -> PathBuf {
        self.cert("client.pem")
    }

    /// The client certificate's private key (PEM, PKCS #8).
    pub fn client_key(&self) -> PathBuf {
        self.cert("client.key")
    }

    /// A client certificate (PEM) signed by [`other_ca`](Self::other_ca),
    /// which the node does not trust; its key is
    /// [`untrusted_client_key`](Self::untrusted_client_key).
    pub fn untrusted_client_cert(&self) -> PathBuf {
        self.cert("untrusted-client.pem")
    }

    /// The key of [`untrusted_client_cert`](Self::untrusted_client_cert).
    pub fn untrusted_client_key(&self) -> PathBuf {
        self.cert("untrusted-client.key")
    }

    /// Runs `rabbitmqctl -n NODE args...`: its standard output, or a
    /// description of the failure.
    pub fn ctl(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new(self.bin.join("rabbitmqctl"));
        cmd.arg("-n").arg(&self.name).args(args);
        let out = run(self.env(&mut cmd), CTL_TIMEOUT)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "rabbitmqctl {}: {}\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn must_ctl(&self, args: &[&str]) -> String {
        self.ctl(args)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.output()))
    }

    fn cert(&self, name: &str) -> PathBuf {
        self.dir.join("certs").join(name)
    }

    fn make_certificates(&self) {
        let certs = self.dir.join("certs");
        let openssl = |args: &[&str]| {
            let mut cmd = Command::new("openssl");
            cmd.args(args).current_dir(&certs);
            match run(&mut cmd, CTL_TIMEOUT) {
                Ok(out) if out.status.success() => {}
                Ok(out) => panic!(
                    "openssl {}: {}\n{}",
                    args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(e) => panic!("openssl (is it installed?): {e}"),
            }
        };
        let new_key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for (name, cn) in [("ca", "amqp test CA"), ("other-ca", "unrelated CA")] {
            let (key, pem, subject) = (
                format!("{name}.key"),
                format!("{name}.pem"),
                format!("/CN={cn}"),
            );
            let mut args = vec!["req", "-x509"];
            args.extend(new_key);
            args.extend([
                "-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subject,
            ]);
            args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
            args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
            openssl(&args);
        }
        let leaf = |name: &str, cn: &str, ca: &str, serial: &str, extensions: &str| {
            let ext = format!("{name}.ext");
            must(
                fs::write(certs.join(&ext), extensions),
                "write an extensions file",
            );
            let (key, csr, pem) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
            );
            let subject = format!("/CN={cn}");
            let mut args = vec!["req"];
            args.extend(new_key);
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
            openssl(&args);
            let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-set_serial",
                serial,
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext,
            ]);
        };
        let common = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n";
        leaf(
            "server",
            "localhost",
            "ca",
            "2",
            &format!(
                "{common}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
            ),
        );
        let client = format!("{common}extendedKeyUsage=clientAuth\n");
        leaf("client", Self::CLIENT_USER, "ca", "3", &client);
        leaf(
            "untrusted-client",
            Self::CLIENT_USER,
            "other-ca",
            "4",
            &client,
        );
    }

    fn write_config(&self) {
        let cert = |name: &str| self.cert(name).display().to_string();
        let config = format!(
            "listeners.tcp.default = 127.0.0.1:{amqp}\n\
             listeners.ssl.default = 127.0.0.1:{tls}\n\
             ssl_options.cacertfile = {ca}\n\
             ssl_options.certfile = {server}\n\
             ssl_options.keyfile = {key}\n\
             ssl_options.verify = verify_peer\n\
             ssl_options.fail_if_no_peer_cert = false\n\
             auth_mechanisms.1 = PLAIN\n\
             auth_mechanisms.2 = AMQPLAIN\n\
             auth_mechanisms.3 = EXTERNAL\n\
             ssl_cert_login_from = common_name\n",
            amqp = self.ports.amqp,
            tls = self.ports.tls,
            ca = cert("ca.pem"),
            server = cert("server.pem"),
            key = cert("server.key"),
        );
        must(
            fs::write(self.dir.join("rabbitmq.conf"), config),
            "write rabbitmq.conf",
        );
        must(
            fs::write(
                self.dir.join("enabled_plugins"),
                "[rabbitmq_auth_mechanism_ssl].\n",
            ),
            "write enabled_plugins",
        );
        // Keeps the system's rabbitmq-env.conf (the main node's name) out.
        must(
            fs::write(self.dir.join("rabbitmq-env.conf"), ""),
            "write rabbitmq-env.conf",
        );
        let cookie = format!("{:016X}{:016X}", random(), random());
        let mut file = fs::OpenOptions::new();
        file.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o400);
        let written = file
            .open(self.dir.join("home").join(".erlang.cookie"))
            .and_then(|mut f| f.write_all(cookie.as_bytes()));
        must(written, "write the node's Erlang cookie");
    }

    /// The environment of the node and of the CLI tools: everything in the
    /// node's directory, its own cookie (`HOME`).
    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        let d = &self.dir;
        cmd.env("HOME", d.join("home"))
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.ports.amqp.to_string())
            .env("RABBITMQ_DIST_PORT", self.ports.dist.to_string())
            // An epmd of its own: one this node starts and its drop stops,
            // without touching the one the main broker uses.
            .env("ERL_EPMD_PORT", self.ports.epmd.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            .env("RABBITMQ_PID_FILE", d.join("node.pid"))
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .current_dir(d)
    }

    fn spawn(&mut self) {
        let log = |name: &str| {
            fs::File::create(self.dir.join(name))
                .unwrap_or_else(|e| panic!("create the node's {name}: {e}"))
        };
        let mut cmd = Command::new(self.bin.join("rabbitmq-server"));
        self.env(&mut cmd)
            .stdin(Stdio::null())
            .stdout(log("server.out"))
            .stderr(log("server.err"));
        match cmd.spawn() {
            Ok(child) => self.child = Some(child),
            Err(e) => panic!(
                "cannot start {}: {e}",
                self.bin.join("rabbitmq-server").display()
            ),
        }
    }

    fn await_startup(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "the TLS node exited ({status}) while starting\n{}",
                        self.output()
                    );
                }
            }
            // Fails at once while the node is not registered yet.
            match self.ctl(&["await_startup", "--timeout", "5"]) {
                Ok(_) => return,
                Err(e) if Instant::now() >= deadline => panic!(
                    "the TLS node {} (TLS on 127.0.0.1:{}, AMQP on 127.0.0.1:{}, epmd on \
                     127.0.0.1:{}) did not start within {START_TIMEOUT:?}: {e}\n{}",
                    self.name,
                    self.ports.tls,
                    self.ports.amqp,
                    self.ports.epmd,
                    self.output()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    /// The node's output and the end of its log, for failure messages.
    fn output(&self) -> String {
        let read = |p: PathBuf| fs::read_to_string(p).unwrap_or_default();
        let log = read(self.dir.join("log").join(format!("{}.log", self.name)));
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        format!(
            "--- node stdout ---\n{}\n--- node stderr ---\n{}\n--- node log (end) ---\n{}",
            read(self.dir.join("server.out")),
            read(self.dir.join("server.err")),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }
}

impl Drop for TlsNode {
    fn drop(&mut self) {
        let was_started = self.child.is_some();
        if was_started {
            let _ = self.ctl(&["stop"]);
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(100))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        // The Erlang VM outlives the startup script when the script is
        // killed; its pid is in the pid file.
        if let Ok(pid) = fs::read_to_string(self.dir.join("node.pid")) {
            let pid = pid.trim();
            if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                let _ = run(Command::new("kill").args(["-KILL", pid]), CTL_TIMEOUT);
            }
        }
        if was_started {
            // No node is registered with it any more, so it may be killed.
            let mut epmd = Command::new("epmd");
            epmd.args(["-port", &self.ports.epmd.to_string(), "-kill"]);
            let _ = run(&mut epmd, CTL_TIMEOUT);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Four ports that nothing listens on now. The listeners are closed before
/// the node binds them, so another process could take one in between: the
/// node then fails to start, saying which port.
fn free_ports() -> Ports {
    let listeners: Vec<std::net::TcpListener> = (0..4)
        .map(|_| {
            must(
                std::net::TcpListener::bind("127.0.0.1:0"),
                "find a free port",
            )
        })
        .collect();
    let port = |i: usize| must(listeners[i].local_addr(), "find a free port").port();
    Ports {
        tls: port(0),
        amqp: port(1),
        dist: port(2),
        epmd: port(3),
    }
}

/// Checks how a connection whose client certificate the broker refused
/// failed. With TLS 1.3 the client's part of the handshake is over when the
/// broker refuses the certificate: its alert arrives with the first read of
/// the AMQP handshake and is reported as
/// [`amqp_client::error::TlsFailure::Refused`]. But the
/// broker closes at once while our protocol header sits unread in its
/// socket, so its kernel may reset the connection, and a reset discards the
/// alert if it was not read yet: then the stream is lost, reset by the peer.
/// Either way the connection must fail, not open or hang.
pub fn assert_client_certificate_refused(e: &amqp_client::Error) {
    use amqp_client::error::TlsFailure;
    match e {
        amqp_client::Error::StreamLost(io) => assert_eq!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset,
            "neither the broker's alert nor its reset: {e:?}"
        ),
        _ => {
            assert_eq!(e.tls_failure(), Some(TlsFailure::Refused), "{e:?}");
            assert!(e.to_string().contains("alert"), "{e}");
            assert!(!e.reconnect_may_help(), "{e}");
        }
    }
}
