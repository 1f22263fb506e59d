//! Silent network faults with iptables: [`Drop::port`] drops every packet
//! to and from a loopback port (no RST, no FIN: the peer just stops
//! answering), in a chain of its own, removed when the value is dropped.
//! Needs root and iptables; panics, saying so, without them.

use std::process::Command;
use std::time::Duration;

use crate::process::{random, run};

/// Rules in place; removed on drop.
#[derive(Debug)]
pub struct Drop {
    chain: String,
}

fn iptables(args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("iptables");
    cmd.args(args);
    let out = run(&mut cmd, Duration::from_secs(10)).map_err(|e| {
        format!("cannot run iptables (install it: apt-get install -y iptables): {e}")
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "iptables {args:?} failed (it needs root): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Drop {
    /// Drops every TCP packet to or from `port` on loopback.
    pub fn port(port: u16) -> Drop {
        let chain = format!("AMQPT{:x}", random() & 0xff_ffff);
        let p = port.to_string();
        let d = Drop { chain };
        let steps: [&[&str]; 4] = [
            &["-N", &d.chain],
            &["-A", &d.chain, "-p", "tcp", "--dport", &p, "-j", "DROP"],
            &["-A", &d.chain, "-p", "tcp", "--sport", &p, "-j", "DROP"],
            &["-I", "INPUT", "-i", "lo", "-j", &d.chain],
        ];
        for step in steps {
            if let Err(e) = iptables(step) {
                panic!("a test needs iptables rules: {e}");
            }
        }
        d
    }
}

impl std::ops::Drop for Drop {
    fn drop(&mut self) {
        let _ = iptables(&["-D", "INPUT", "-i", "lo", "-j", &self.chain]);
        let _ = iptables(&["-F", &self.chain]);
        let _ = iptables(&["-X", &self.chain]);
    }
}
