//! Grading a scenario from the driver's run and the wire.

use std::fmt;
use std::time::Duration;

use super::*;

/// A scenario's grade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The client did what the specification requires.
    Pass,
    /// It closed the connection, but not with the code the specification names.
    ClosedWrongCode {
        /// The codes required.
        expected: Vec<u16>,
        /// The code it sent.
        got: u16,
    },
    /// It did not: why.
    Fail(String),
}

impl Verdict {
    /// `pass`, `closed-wrong-code` or `fail`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::ClosedWrongCode { .. } => "closed-wrong-code",
            Verdict::Fail(_) => "fail",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => write!(f, "pass"),
            Verdict::ClosedWrongCode { expected, got } => {
                write!(
                    f,
                    "closed, wrong code: {got} (expected {})",
                    codes(expected)
                )
            }
            Verdict::Fail(why) => write!(f, "FAIL: {why}"),
        }
    }
}

fn codes(c: &[u16]) -> String {
    c.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Grades a scenario from the driver's run and the wire.
pub fn grade(
    scenario: Scenario,
    driver: &DriverRun,
    wire: &Wire,
    baseline: Option<u64>,
) -> Verdict {
    match &driver.exit {
        Exit::Hang => return Verdict::Fail("the driver hung (killed at the time limit)".into()),
        Exit::SpawnFailed(e) => return Verdict::Fail(format!("the driver did not start: {e}")),
        Exit::Signal(s) => return Verdict::Fail(format!("the driver crashed (signal {s})")),
        Exit::Code(c @ (126 | 127)) => {
            return Verdict::Fail(format!(
                "the driver command could not be run (exit {c}: not found or not executable)"
            ))
        }
        Exit::Code(c) if *c != 0 && *c != 1 => {
            return Verdict::Fail(format!("the driver crashed (exit {c})"))
        }
        Exit::Code(_) => {}
    }
    if let (Some(base), Some(peak)) = (baseline, driver.peak_rss_kib) {
        if scenario.id != "clean" && peak > base + RSS_MARGIN_KIB {
            return Verdict::Fail(format!(
                "peak RSS {peak} KiB, more than 64 MiB over the clean run's {base} KiB"
            ));
        }
    }
    let completed = driver.exit == Exit::Code(0);
    let closed_with = |expected: &[u16], silent_ok: bool| -> Verdict {
        if completed {
            return Verdict::Fail("the driver reported success: the fault went unnoticed".into());
        }
        if wire.fault_at.is_none() {
            return Verdict::Fail("the driver failed before the broker's fault".into());
        }
        match &wire.client_close {
            Some((code, _)) if expected.contains(code) => Verdict::Pass,
            Some((code, _)) => Verdict::ClosedWrongCode {
                expected: expected.to_vec(),
                got: *code,
            },
            None if silent_ok && wire.socket_closed.is_some() && !wire.spoke_after_fault => {
                Verdict::Pass
            }
            None if wire.socket_closed.is_some() => Verdict::Fail(format!(
                "the socket closed without connection.close (expected {})",
                codes(expected)
            )),
            None => Verdict::Fail("the client never closed the connection".into()),
        }
    };
    match scenario.id {
        "clean" => {
            if !completed {
                return Verdict::Fail(format!("the driver did not complete: {}", driver.exit));
            }
            if wire.published != PUBLISHES || wire.acked < CONSUMES {
                return Verdict::Fail(format!(
                    "{} publishes and {} acks, not {PUBLISHES} and {CONSUMES}",
                    wire.published, wire.acked
                ));
            }
            match &wire.client_close {
                Some((200, _)) => Verdict::Pass,
                Some((code, _)) => Verdict::ClosedWrongCode {
                    expected: vec![200],
                    got: *code,
                },
                None => Verdict::Fail("the connection was not closed with connection.close".into()),
            }
        }
        "frame-max" | "unknown-frame-type" => closed_with(&[501], false),
        "bad-frame-end" => closed_with(&[501], true),
        "unknown-method" => closed_with(&[503, 540], false),
        "unknown-channel" => closed_with(&[504], false),
        "unexpected-reply" => closed_with(&[503, 505], false),
        "huge-content" => {
            if completed {
                return Verdict::Fail("the driver reported success".into());
            }
            if wire.fault_at.is_none() {
                return Verdict::Fail("the driver failed before the broker's fault".into());
            }
            let codes = [
                wire.client_close.as_ref().map(|(c, _)| *c),
                wire.client_channel_close,
            ];
            if codes.contains(&Some(311)) {
                return Verdict::Pass;
            }
            match codes.into_iter().flatten().next() {
                Some(got) => Verdict::ClosedWrongCode {
                    expected: vec![311],
                    got,
                },
                None if wire.socket_closed.is_some() => Verdict::Fail(
                    "the socket closed without channel.close or connection.close (expected 311)"
                        .into(),
                ),
                None => Verdict::Fail("the client never closed the connection".into()),
            }
        }
        "deep-table" => {
            if completed && wire.fault_at.is_some() {
                if wire.acked >= CONSUMES {
                    Verdict::Pass
                } else {
                    Verdict::Fail(format!("{} deliveries acked, not {CONSUMES}", wire.acked))
                }
            } else {
                closed_with(&[502, 501], false)
            }
        }
        "body-too-long" => closed_with(&[505, 501], false),
        "unknown-consumer-tag" => {
            if wire.fault_at.is_none() {
                Verdict::Fail("the driver ended before the consumer started".into())
            } else if wire.acked_tags.contains(&1) {
                Verdict::Fail("the stray delivery (tag 1) was acked as the consumer's".into())
            } else if completed && wire.acked >= CONSUMES {
                Verdict::Pass
            } else if completed {
                Verdict::Fail(format!("{} deliveries acked, not {CONSUMES}", wire.acked))
            } else if matches!(wire.client_close, Some((code, _)) if code != 200)
                || matches!(wire.client_channel_close, Some(code) if code != 200)
            {
                Verdict::Pass
            } else {
                Verdict::Fail(
                    "the driver failed without closing the channel or the connection with an \
                     error code"
                        .into(),
                )
            }
        }
        "no-heartbeat" => {
            if completed {
                return Verdict::Fail("the driver reported success".into());
            }
            let (Some(fault), Some(closed)) = (wire.fault_at, wire.socket_closed) else {
                return Verdict::Fail("the client never closed the socket".into());
            };
            let limit = Duration::from_secs(2 * u64::from(HEARTBEAT) + 1);
            let took = closed.saturating_sub(fault);
            if took > limit {
                Verdict::Fail(format!(
                    "the socket closed {:.1} s after the silence began",
                    took.as_secs_f64()
                ))
            } else {
                Verdict::Pass
            }
        }
        "no-start" | "slow-start" => {
            if completed {
                Verdict::Fail("the driver reported success".into())
            } else if wire.fault_at.is_none() {
                Verdict::Fail("the driver failed before sending the protocol header".into())
            } else if driver.wall > Duration::from_secs(12) {
                Verdict::Fail(format!(
                    "the driver gave up after {:.1} s",
                    driver.wall.as_secs_f64()
                ))
            } else {
                Verdict::Pass
            }
        }
        "protocol-header" => {
            if completed {
                Verdict::Fail("the driver reported success".into())
            } else if wire.fault_at.is_none() {
                Verdict::Fail("the driver failed before sending the protocol header".into())
            } else if driver.wall > Duration::from_secs(5) {
                Verdict::Fail(format!(
                    "the driver gave up after {:.1} s",
                    driver.wall.as_secs_f64()
                ))
            } else {
                Verdict::Pass
            }
        }
        "close-with-confirms" => {
            if completed {
                Verdict::Fail("the driver reported success with a publish unconfirmed".into())
            } else if wire.fault_at.is_none() {
                Verdict::Fail("the driver failed before the broker's channel.close".into())
            } else if !wire.channel_close_ok {
                Verdict::Fail("the client did not answer channel.close-ok".into())
            } else {
                Verdict::Pass
            }
        }
        "close-mid-publish" => {
            if completed {
                Verdict::Fail("the driver reported success with a publish unconfirmed".into())
            } else if wire.fault_at.is_none() {
                Verdict::Fail("the driver failed before the broker's connection.close".into())
            } else if !wire.connection_close_ok {
                Verdict::Fail("the client did not answer connection.close-ok".into())
            } else if wire.publishes_after_fault > 0 {
                Verdict::Fail(format!(
                    "{} publishes after the broker's connection.close",
                    wire.publishes_after_fault
                ))
            } else {
                Verdict::Pass
            }
        }
        "confirm-withheld" => {
            if completed {
                return Verdict::Fail(
                    "the driver reported success: publish 3 was never confirmed".into(),
                );
            }
            if wire.fault_at.is_none() {
                return Verdict::Fail("the driver failed before the broker's fault".into());
            }
            if wire.publishes_after_fault > 0 {
                return Verdict::Fail(
                    "a 4th publish: the ack for delivery-tag 4 was taken as publish 3's".into(),
                );
            }
            let codes = [
                wire.client_channel_close,
                wire.client_close.as_ref().map(|(c, _)| *c),
            ];
            if codes.contains(&Some(406)) {
                return Verdict::Pass;
            }
            match codes.into_iter().flatten().next() {
                Some(got) => Verdict::ClosedWrongCode {
                    expected: vec![406],
                    got,
                },
                None => Verdict::Fail(
                    "the error was not raised on the wire: no channel.close or \
                     connection.close with 406"
                        .into(),
                ),
            }
        }
        "reset-mid-frame" => {
            if completed {
                Verdict::Fail("the driver reported success".into())
            } else if wire.fault_at.is_none() {
                Verdict::Fail("the driver failed before the reset".into())
            } else {
                Verdict::Pass
            }
        }
        other => Verdict::Fail(format!("no grading for scenario {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(exit: Exit) -> DriverRun {
        DriverRun {
            exit,
            wall: Duration::from_millis(50),
            peak_rss_kib: Some(10_000),
            stderr: String::new(),
        }
    }

    fn faulted(close: Option<u16>) -> Wire {
        Wire {
            connections: 1,
            fault_at: Some(Duration::from_millis(5)),
            client_close: close.map(|c| (c, "x".into())),
            socket_closed: Some(Duration::from_millis(6)),
            ..Wire::default()
        }
    }

    fn s(id: &str) -> Scenario {
        find(id).expect("a scenario")
    }

    #[test]
    fn ids_are_unique_and_every_scenario_is_graded() {
        let all = scenarios();
        let mut ids: Vec<_> = all.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        for sc in all {
            let v = grade(sc, &run_with(Exit::Code(1)), &Wire::default(), None);
            assert!(
                !matches!(&v, Verdict::Fail(why) if why.starts_with("no grading")),
                "{}",
                sc.id
            );
        }
    }

    #[test]
    fn connection_errors_need_their_code() {
        let one = run_with(Exit::Code(1));
        for (id, good, bad) in [
            ("frame-max", 501, 505),
            ("unknown-frame-type", 501, 200),
            ("unknown-method", 540, 501),
            ("unknown-method", 503, 504),
            ("unknown-channel", 504, 503),
            ("unexpected-reply", 503, 504),
            ("unexpected-reply", 505, 200),
            ("deep-table", 502, 505),
            ("deep-table", 501, 200),
            ("body-too-long", 505, 200),
            ("body-too-long", 501, 504),
            ("bad-frame-end", 501, 200),
        ] {
            assert_eq!(
                grade(s(id), &one, &faulted(Some(good)), None),
                Verdict::Pass,
                "{id}"
            );
            assert!(
                matches!(
                    grade(s(id), &one, &faulted(Some(bad)), None),
                    Verdict::ClosedWrongCode { got, .. } if got == bad
                ),
                "{id}"
            );
            // Success, no close at all, and a crash all fail.
            for (driver, wire) in [
                (run_with(Exit::Code(0)), faulted(Some(good))),
                (
                    one.clone(),
                    Wire {
                        socket_closed: None,
                        ..faulted(None)
                    },
                ),
                (run_with(Exit::Code(3)), faulted(Some(good))),
                (run_with(Exit::Signal(9)), faulted(Some(good))),
                (run_with(Exit::Hang), faulted(Some(good))),
                (one.clone(), Wire::default()),
            ] {
                assert!(
                    matches!(grade(s(id), &driver, &wire, None), Verdict::Fail(_)),
                    "{id} {driver:?} {wire:?}"
                );
            }
        }
        // A bad frame-end may close the socket without a word; the others may not.
        assert_eq!(
            grade(s("bad-frame-end"), &one, &faulted(None), None),
            Verdict::Pass
        );
        assert!(matches!(
            grade(s("frame-max"), &one, &faulted(None), None),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn the_clean_run_needs_the_whole_workload() {
        let wire = Wire {
            published: PUBLISHES,
            acked: CONSUMES,
            client_close: Some((200, "bye".into())),
            ..Wire::default()
        };
        let zero = run_with(Exit::Code(0));
        assert_eq!(grade(s("clean"), &zero, &wire, None), Verdict::Pass);
        let short = Wire {
            published: 3,
            ..wire.clone()
        };
        assert!(matches!(
            grade(s("clean"), &zero, &short, None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(s("clean"), &run_with(Exit::Code(1)), &wire, None),
            Verdict::Fail(_)
        ));
        let no_close = Wire {
            client_close: None,
            ..wire
        };
        assert!(matches!(
            grade(s("clean"), &zero, &no_close, None),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn a_stray_delivery_is_not_the_consumers() {
        let sc = s("unknown-consumer-tag");
        let fine = Wire {
            acked: CONSUMES,
            acked_tags: (2..=11).collect(),
            ..faulted(Some(200))
        };
        let zero = run_with(Exit::Code(0));
        let one = run_with(Exit::Code(1));
        assert_eq!(grade(sc, &zero, &fine, None), Verdict::Pass);
        let stray_acked = Wire {
            acked_tags: (1..=10).collect(),
            ..fine.clone()
        };
        assert!(matches!(
            grade(sc, &zero, &stray_acked, None),
            Verdict::Fail(_)
        ));
        assert_eq!(grade(sc, &one, &faulted(Some(503)), None), Verdict::Pass);
        let channel_closed = Wire {
            client_channel_close: Some(406),
            ..faulted(Some(200))
        };
        assert_eq!(grade(sc, &one, &channel_closed, None), Verdict::Pass);
        assert!(matches!(
            grade(sc, &one, &faulted(Some(200)), None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(sc, &one, &Wire::default(), None),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn memory_is_bounded_by_the_clean_run() {
        let one = DriverRun {
            peak_rss_kib: Some(RSS_MARGIN_KIB + 20_000),
            ..run_with(Exit::Code(1))
        };
        let within = Some(30_000);
        let over = Some(10_000);
        assert_eq!(
            grade(s("frame-max"), &one, &faulted(Some(501)), within),
            Verdict::Pass
        );
        let v = grade(s("frame-max"), &one, &faulted(Some(501)), over);
        assert!(matches!(v, Verdict::Fail(why) if why.contains("RSS")));
    }

    #[test]
    fn timing_scenarios_fail_when_late() {
        let wire = faulted(None);
        let slow = DriverRun {
            wall: Duration::from_secs(13),
            ..run_with(Exit::Code(1))
        };
        let quick = run_with(Exit::Code(1));
        for id in ["no-start", "slow-start", "protocol-header"] {
            assert_eq!(grade(s(id), &quick, &wire, None), Verdict::Pass, "{id}");
            assert!(matches!(grade(s(id), &slow, &wire, None), Verdict::Fail(_)));
            assert!(matches!(
                grade(s(id), &run_with(Exit::Code(0)), &wire, None),
                Verdict::Fail(_)
            ));
        }
        let hb = s("no-heartbeat");
        assert_eq!(grade(hb, &quick, &wire, None), Verdict::Pass);
        let late = Wire {
            socket_closed: Some(Duration::from_secs(6)),
            ..wire.clone()
        };
        assert!(matches!(grade(hb, &quick, &late, None), Verdict::Fail(_)));
        let never = Wire {
            socket_closed: None,
            ..wire
        };
        assert!(matches!(grade(hb, &quick, &never, None), Verdict::Fail(_)));
    }

    #[test]
    fn confirms_and_resets_need_an_error() {
        let one = run_with(Exit::Code(1));
        let cc = s("close-with-confirms");
        let answered = Wire {
            channel_close_ok: true,
            ..faulted(Some(200))
        };
        assert_eq!(grade(cc, &one, &answered, None), Verdict::Pass);
        assert!(matches!(
            grade(cc, &one, &faulted(Some(200)), None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(cc, &run_with(Exit::Code(0)), &answered, None),
            Verdict::Fail(_)
        ));
        let rst = s("reset-mid-frame");
        assert_eq!(grade(rst, &one, &faulted(None), None), Verdict::Pass);
        assert!(matches!(
            grade(rst, &run_with(Exit::Code(0)), &faulted(None), None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(rst, &one, &Wire::default(), None),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn huge_content_needs_311_and_bounded_memory() {
        let sc = s("huge-content");
        let one = run_with(Exit::Code(1));
        assert_eq!(grade(sc, &one, &faulted(Some(311)), None), Verdict::Pass);
        let channel_311 = Wire {
            client_channel_close: Some(311),
            ..faulted(None)
        };
        assert_eq!(grade(sc, &one, &channel_311, None), Verdict::Pass);
        assert!(matches!(
            grade(sc, &one, &faulted(Some(501)), None),
            Verdict::ClosedWrongCode { got: 501, .. }
        ));
        let channel_406 = Wire {
            client_channel_close: Some(406),
            ..faulted(None)
        };
        assert!(matches!(
            grade(sc, &one, &channel_406, None),
            Verdict::ClosedWrongCode { got: 406, .. }
        ));
        // In silence, not at all, a success, and too much memory all fail.
        assert!(matches!(
            grade(sc, &one, &faulted(None), None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(sc, &one, &Wire::default(), None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(sc, &run_with(Exit::Code(0)), &faulted(Some(311)), None),
            Verdict::Fail(_)
        ));
        let fat = DriverRun {
            peak_rss_kib: Some(10_000 + RSS_MARGIN_KIB + 1),
            ..one
        };
        assert!(matches!(
            grade(sc, &fat, &faulted(Some(311)), Some(10_000)),
            Verdict::Fail(why) if why.contains("RSS")
        ));
    }

    #[test]
    fn a_deep_table_may_be_read_or_refused_but_not_crash() {
        let sc = s("deep-table");
        let zero = run_with(Exit::Code(0));
        let read = Wire {
            acked: CONSUMES,
            ..faulted(Some(200))
        };
        assert_eq!(grade(sc, &zero, &read, None), Verdict::Pass);
        let short = Wire {
            acked: 9,
            ..read.clone()
        };
        assert!(matches!(grade(sc, &zero, &short, None), Verdict::Fail(_)));
        for crash in [Exit::Signal(11), Exit::Signal(6), Exit::Code(101)] {
            assert!(matches!(
                grade(sc, &run_with(crash), &read, None),
                Verdict::Fail(why) if why.contains("crash")
            ));
        }
    }

    #[test]
    fn a_close_mid_publish_needs_close_ok_and_silence() {
        let sc = s("close-mid-publish");
        let one = run_with(Exit::Code(1));
        let answered = Wire {
            connection_close_ok: true,
            ..faulted(None)
        };
        assert_eq!(grade(sc, &one, &answered, None), Verdict::Pass);
        assert!(matches!(
            grade(sc, &one, &faulted(None), None),
            Verdict::Fail(why) if why.contains("close-ok")
        ));
        let went_on = Wire {
            publishes_after_fault: 1,
            ..answered.clone()
        };
        assert!(matches!(grade(sc, &one, &went_on, None), Verdict::Fail(_)));
        assert!(matches!(
            grade(sc, &run_with(Exit::Code(0)), &answered, None),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn a_withheld_confirm_stays_unconfirmed() {
        let sc = s("confirm-withheld");
        let one = run_with(Exit::Code(1));
        let refused = Wire {
            client_channel_close: Some(406),
            ..faulted(None)
        };
        assert_eq!(grade(sc, &one, &refused, None), Verdict::Pass);
        assert_eq!(grade(sc, &one, &faulted(Some(406)), None), Verdict::Pass);
        assert!(matches!(
            grade(sc, &one, &faulted(Some(505)), None),
            Verdict::ClosedWrongCode { got: 505, .. }
        ));
        let took_it = Wire {
            publishes_after_fault: 1,
            ..refused.clone()
        };
        assert!(matches!(
            grade(sc, &one, &took_it, None),
            Verdict::Fail(why) if why.contains("4th")
        ));
        assert!(matches!(
            grade(sc, &run_with(Exit::Code(0)), &refused, None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(sc, &one, &faulted(None), None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(sc, &run_with(Exit::Hang), &faulted(None), None),
            Verdict::Fail(why) if why.contains("hung")
        ));
    }
}
