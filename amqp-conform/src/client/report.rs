//! Text and JSON reports.

use std::collections::HashMap;

use super::*;

/// A text report: a line per scenario, with the driver's result and, for
/// a scenario that did not pass, its requirement and the wire.
pub fn text(reports: &[Report]) -> String {
    let mut out = String::new();
    for r in reports {
        out.push_str(&format!(
            "{:<22} {}\n    driver: {}, {:.2} s, peak RSS {}\n",
            r.scenario.id,
            r.verdict,
            r.driver.exit,
            r.driver.wall.as_secs_f64(),
            r.driver
                .peak_rss_kib
                .map_or("unknown".into(), |k| format!("{k} KiB"))
        ));
        if r.verdict != Verdict::Pass {
            out.push_str(&format!(
                "    broker: {}\n    requires: {}\n    spec: {}\n",
                r.scenario.title, r.scenario.requires, r.scenario.spec
            ));
            for l in &r.wire.lines {
                out.push_str(&format!(
                    "      {:>8.3} {:<6} {}\n",
                    l.at.as_secs_f64(),
                    l.from,
                    l.what
                ));
            }
            if !r.driver.stderr.trim().is_empty() {
                out.push_str(&format!("    stderr: {}\n", r.driver.stderr.trim()));
            }
        }
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in reports {
        *counts.entry(r.verdict.label()).or_default() += 1;
    }
    out.push_str(&format!(
        "{} scenarios: {} pass, {} closed-wrong-code, {} fail\n",
        reports.len(),
        counts.get("pass").unwrap_or(&0),
        counts.get("closed-wrong-code").unwrap_or(&0),
        counts.get("fail").unwrap_or(&0)
    ));
    out
}

/// A JSON report: `scenarios`, each with `id`, `title`, `requires`,
/// `spec`, `verdict`, `reason`, `exit`, `exit_code`, `wall_ms`,
/// `peak_rss_kib`, `stderr` (its end), `client_close` and `frames`.
pub fn json(reports: &[Report]) -> String {
    use serde_json::{json, Value};
    let scenarios: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "id": r.scenario.id,
                "title": r.scenario.title,
                "requires": r.scenario.requires,
                "spec": r.scenario.spec,
                "verdict": r.verdict.label(),
                "reason": r.verdict.to_string(),
                "exit": r.driver.exit.to_string(),
                "exit_code": match r.driver.exit { Exit::Code(c) => Some(c), _ => None },
                "wall_ms": r.driver.wall.as_millis() as u64,
                "peak_rss_kib": r.driver.peak_rss_kib,
                "stderr": r.driver.stderr,
                "client_close": r.wire.client_close.as_ref().map(|(c, t)| json!({"code": c, "text": t})),
                "frames": r.wire.lines.iter().map(|l| json!({
                    "at_ms": l.at.as_millis() as u64,
                    "from": l.from,
                    "what": l.what,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({ "scenarios": scenarios });
    format!("{doc:#}\n")
}
