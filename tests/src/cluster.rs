//! A RabbitMQ cluster of its own for the tests that need one: `n` nodes on
//! loopback beside whatever broker runs on 5672, started and stopped here.
//! Each run has its own directory (under the system's temporary directory),
//! node names, Erlang cookie, epmd on a free port, and free AMQP and
//! distribution ports; dropping the [`Cluster`] stops every node (a frozen
//! one too) and the epmd it started, and removes the directory.
//!
//! Faults: [`Cluster::kill`] (SIGKILL of a node's VM), [`Cluster::freeze`]
//! and [`Cluster::thaw`] (SIGSTOP / SIGCONT), [`Cluster::restart`].

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use amqp_client::ConnectionParameters;

use crate::process::{must, rabbitmq_scripts, random, run};

/// How long a node may take to open its AMQP port (about 17 s on 2 cores;
/// the suite's waits stay within 30 s).
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one CLI call may take (a join takes about 4 s).
const CTL_TIMEOUT: Duration = Duration::from_secs(30);

/// One node of a [`Cluster`].
#[derive(Debug)]
pub struct Node {
    /// Its Erlang node name.
    pub name: String,
    /// Its AMQP port on 127.0.0.1.
    pub amqp_port: u16,
    dist_port: u16,
    dir: PathBuf,
    /// The `rabbitmq-server` script (which runs the VM as its child).
    server: Option<Child>,
}

/// A running cluster; see the [module docs](self).
#[derive(Debug)]
pub struct Cluster {
    /// The nodes, in order (the first is the one the others joined).
    pub nodes: Vec<Node>,
    dir: PathBuf,
    scripts: PathBuf,
    epmd_port: u16,
    ctl_ports: (u16, u16),
    epmd: Option<Child>,
}

impl Cluster {
    /// Starts `n` nodes and clusters them; panics, saying why, when that
    /// fails (RabbitMQ missing, a node that does not boot in time) twice in
    /// a row (a first failure, a node that lost a port race on a loaded
    /// machine, is retried once from scratch).
    pub fn start(n: usize) -> Cluster {
        match std::panic::catch_unwind(|| Cluster::start_once(n)) {
            Ok(c) => c,
            Err(first) => {
                let why = first
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| first.downcast_ref::<&str>().copied())
                    .unwrap_or("?");
                eprintln!("the cluster did not start ({why}); starting it again");
                Cluster::start_once(n)
            }
        }
    }

    fn start_once(n: usize) -> Cluster {
        remove_stale_clusters();
        let scripts = rabbitmq_scripts();
        let run = format!("{}-{:x}", std::process::id(), random());
        let dir = std::env::temp_dir().join(format!("amqp-cluster-{run}"));
        must(
            fs::create_dir_all(dir.join("home")),
            "create the cluster directory",
        );
        let cookie = dir.join("home/.erlang.cookie");
        must(
            fs::write(&cookie, format!("AMQPTESTS{:016X}", random())),
            "write the Erlang cookie",
        );
        must(
            fs::set_permissions(&cookie, fs::Permissions::from_mode(0o400)),
            "protect the Erlang cookie",
        );
        must(
            fs::write(dir.join("empty-env.conf"), ""),
            "write an empty env file",
        );
        let epmd_port = free_port();
        must(
            fs::write(dir.join("epmd.port"), epmd_port.to_string()),
            "record the epmd port",
        );
        let ctl_min = free_port();
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
            scripts,
            epmd_port,
            ctl_ports: (ctl_min, ctl_min.saturating_add(20)),
            epmd: None,
        };
        let epmd = Command::new("epmd")
            .args(["-address", "127.0.0.1", "-port", &epmd_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        cluster.epmd = Some(must(epmd, "start epmd (part of RabbitMQ's Erlang runtime)"));
        wait_port(epmd_port, Duration::from_secs(10), "epmd");
        for i in 1..=n {
            let node = Node {
                name: format!("amqptest{i}-{run}@localhost"),
                amqp_port: free_port(),
                dist_port: free_port(),
                dir: cluster.dir.join(format!("n{i}")),
                server: None,
            };
            cluster.nodes.push(node);
        }
        // All at once: a node restarted later waits for the peers it saw.
        for i in 0..n {
            cluster.write_config(i);
            cluster.spawn(i);
        }
        for i in 0..n {
            cluster.await_node(i);
            // The port may answer before the node is up (or be another
            // process's): the node itself says when it has started.
            cluster.must_ctl(i, &["await_startup", "--timeout", "30"]);
        }
        let seed = cluster.nodes[0].name.clone();
        for i in 1..n {
            cluster.must_ctl(i, &["stop_app"]);
            cluster.must_ctl(i, &["join_cluster", &seed]);
            cluster.must_ctl(i, &["start_app"]);
        }
        cluster.must_ctl(
            0,
            &["await_online_nodes", &n.to_string(), "--timeout", "60"],
        );
        cluster
    }

    /// Connection parameters for node `i` (guest/guest, a short heartbeat
    /// and handshake timeout, as a client of a cluster would use).
    pub fn params(&self, i: usize) -> ConnectionParameters {
        ConnectionParameters::new()
            .with_host("127.0.0.1")
            .with_port(self.nodes[i].amqp_port)
            .with_heartbeat(amqp_client::Heartbeat::Seconds(2))
            .with_stack_timeout(Duration::from_secs(5))
            .with_connection_name(format!("amqp-test.cluster.n{}", i + 1))
    }

    /// `rabbitmqctl ARGS` against node `i`.
    pub fn ctl(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new(self.scripts.join("rabbitmqctl"));
        self.env(&mut cmd)
            .args(["-q", "-n", &self.nodes[i].name])
            .args(args);
        let out = run(&mut cmd, CTL_TIMEOUT)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "rabbitmqctl {args:?} on {}: {}{}",
                self.nodes[i].name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn must_ctl(&self, i: usize, args: &[&str]) -> String {
        self.ctl(i, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The pid of node `i`'s Erlang VM.
    fn beam_pid(&self, i: usize) -> Option<String> {
        fs::read_to_string(self.nodes[i].dir.join("beam.pid"))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    fn signal(&self, i: usize, signal: &str) {
        if let Some(pid) = self.beam_pid(i) {
            let _ = Command::new("kill").args([signal, &pid]).status();
        }
    }

    /// Node `i`'s log directory.
    pub fn log_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.join("log")
    }

    /// Kills node `i`'s VM at once (SIGKILL): no close, no goodbye to its
    /// clients or peers.
    pub fn kill(&mut self, i: usize) {
        self.signal(i, "-KILL");
        if let Some(mut server) = self.nodes[i].server.take() {
            let _ = server.wait();
        }
        let _ = fs::remove_file(self.nodes[i].dir.join("beam.pid"));
    }

    /// Freezes node `i` (SIGSTOP): its sockets stay open, nothing answers.
    pub fn freeze(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// Thaws a frozen node (SIGCONT).
    pub fn thaw(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    /// Starts node `i` again (after [`kill`](Self::kill)) and waits for it.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.await_node(i);
        self.must_ctl(i, &["await_startup", "--timeout", "30"]);
    }

    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("HOME", self.dir.join("home"))
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("empty-env.conf"))
            .env("RABBITMQ_CTL_DIST_PORT_MIN", self.ctl_ports.0.to_string())
            .env("RABBITMQ_CTL_DIST_PORT_MAX", self.ctl_ports.1.to_string())
    }

    fn write_config(&self, i: usize) {
        let node = &self.nodes[i];
        must(
            fs::create_dir_all(node.dir.join("mnesia")),
            "create a node directory",
        );
        must(
            fs::create_dir_all(node.dir.join("log")),
            "create a node log directory",
        );
        let conf = format!(
            "listeners.tcp.default = 127.0.0.1:{}\n\
             loopback_users = none\n\
             cluster_partition_handling = pause_minority\n\
             log.file.level = warning\n\
             log.console = false\n",
            node.amqp_port
        );
        must(
            fs::write(node.dir.join("rabbitmq.conf"), conf),
            "write rabbitmq.conf",
        );
        must(
            fs::write(
                node.dir.join("advanced.config"),
                "[{kernel, [{net_ticktime, 10}, {inet_dist_use_interface, {127,0,0,1}}]}].\n",
            ),
            "write advanced.config",
        );
        must(
            fs::write(node.dir.join("enabled_plugins"), "[].\n"),
            "write enabled_plugins",
        );
    }

    fn spawn(&mut self, i: usize) {
        let node = &self.nodes[i];
        let out = must(
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(node.dir.join("server.out")),
            "open the node's output file",
        );
        let err = must(out.try_clone(), "share the node's output file");
        let mut cmd = Command::new(self.scripts.join("rabbitmq-server"));
        self.env(&mut cmd)
            .env("RABBITMQ_NODENAME", &node.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", node.amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", node.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", node.dir.join("rabbitmq.conf"))
            .env(
                "RABBITMQ_ADVANCED_CONFIG_FILE",
                node.dir.join("advanced.config"),
            )
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                node.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_MNESIA_BASE", node.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", node.dir.join("log"))
            .env("RABBITMQ_PID_FILE", node.dir.join("beam.pid"))
            .current_dir(&node.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: a test's signals stay the test's.
            .process_group(0);
        let child = must(cmd.spawn(), "start rabbitmq-server");
        self.nodes[i].server = Some(child);
    }

    fn await_node(&mut self, i: usize) {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let port = self.nodes[i].amqp_port;
        loop {
            if TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_ok() {
                return;
            }
            let exited = self.nodes[i]
                .server
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() >= deadline {
                let out =
                    fs::read_to_string(self.nodes[i].dir.join("server.out")).unwrap_or_default();
                let tail: String = out.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                panic!(
                    "node {} {} on 127.0.0.1:{port} (its output, last lines first):\n{tail}",
                    self.nodes[i].name,
                    if exited {
                        "exited while booting"
                    } else {
                        "did not open its AMQP port"
                    },
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.signal(i, "-CONT");
            self.signal(i, "-TERM");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &mut self.nodes {
            if let Some(mut server) = node.server.take() {
                loop {
                    match server.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(50))
                        }
                        Ok(None) => {
                            let _ = server.kill();
                            let _ = server.wait();
                            break;
                        }
                    }
                }
            }
        }
        // A VM that outlived its script (the script was killed).
        for i in 0..self.nodes.len() {
            self.signal(i, "-KILL");
        }
        if let Some(mut epmd) = self.epmd.take() {
            let _ = epmd.kill();
            let _ = epmd.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let l = must(TcpListener::bind("127.0.0.1:0"), "find a free port");
    must(l.local_addr(), "read a port").port()
}

fn wait_port(port: u16, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the nodes and epmd of clusters whose test process died without
/// stopping them (killed, or aborted), and removes their directories.
fn remove_stale_clusters() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("amqp-cluster-") else {
            continue;
        };
        let Some(owner) = rest.split('-').next() else {
            continue;
        };
        if PathBuf::from(format!("/proc/{owner}")).exists() {
            continue;
        }
        let dir = entry.path();
        let epmd = fs::read_to_string(dir.join("epmd.port")).unwrap_or_default();
        let epmd_arg = format!("-port\0{}\0", epmd.trim());
        let dir_text = dir.to_string_lossy().into_owned();
        for proc in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let pid = proc.file_name().to_string_lossy().into_owned();
            if !pid.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let Ok(cmdline) = fs::read(proc.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline);
            let ours = cmdline.contains(&dir_text)
                || (!epmd.trim().is_empty()
                    && cmdline.starts_with("epmd\0")
                    && cmdline.contains(&epmd_arg));
            if ours {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
