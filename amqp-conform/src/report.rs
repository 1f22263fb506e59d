//! Verdicts (a case's outcome read against a deviations list) and the
//! text, JSON and JUnit XML renderings of a run.

use std::fmt::Write as _;

use amqp_protocol::RULES;
use serde_json::{json, Value};

use crate::deviations::{Deviation, Deviations};
use crate::run::{Outcome, Report};
use crate::Case;

/// A case's outcome, read against the deviations listed for the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Passed, and no deviation is listed.
    Pass,
    /// Failed, and no deviation is listed: unexpected.
    Fail,
    /// Failed, as the listed deviation says it does.
    ExpectedFailure,
    /// Passed although a deviation is listed: reported, and unexpected
    /// under `strict`.
    UnexpectedPass,
    /// The case does not apply to this broker.
    NotApplicable,
}

impl Verdict {
    /// Every verdict, in the order summaries list them.
    pub const ALL: [Verdict; 5] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::ExpectedFailure,
        Verdict::UnexpectedPass,
        Verdict::NotApplicable,
    ];

    /// `pass`, `fail`, `expected-failure`, `unexpected-pass` or
    /// `not-applicable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::ExpectedFailure => "expected-failure",
            Verdict::UnexpectedPass => "unexpected-pass",
            Verdict::NotApplicable => "not-applicable",
        }
    }

    /// A short label for the text output.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::ExpectedFailure => "xfail",
            Verdict::UnexpectedPass => "XPASS",
            Verdict::NotApplicable => "n/a",
        }
    }

    /// Whether this verdict makes the run unsuccessful: a failure without a
    /// listed deviation, or, under `strict`, an unexpected pass.
    pub fn is_unexpected(self, strict: bool) -> bool {
        match self {
            Verdict::Fail => true,
            Verdict::UnexpectedPass => strict,
            _ => false,
        }
    }
}

/// The verdict on `outcome` for a case with `deviation` listed (or none).
pub fn verdict(outcome: &Outcome, deviation: Option<&Deviation>) -> Verdict {
    match (outcome, deviation) {
        (Outcome::Pass, None) => Verdict::Pass,
        (Outcome::Pass, Some(_)) => Verdict::UnexpectedPass,
        (Outcome::Fail { .. }, None) => Verdict::Fail,
        (Outcome::Fail { .. }, Some(_)) => Verdict::ExpectedFailure,
        (Outcome::NotApplicable(_), _) => Verdict::NotApplicable,
    }
}

/// One case's report with its verdict and listed deviation.
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    /// The report.
    pub report: &'a Report,
    /// Its verdict.
    pub verdict: Verdict,
    /// The deviation listed for the case.
    pub deviation: Option<&'a Deviation>,
}

/// Reads every report against `deviations`.
pub fn judge<'a>(reports: &'a [Report], deviations: &'a Deviations) -> Vec<Judged<'a>> {
    reports
        .iter()
        .map(|report| {
            let deviation = deviations.get(report.case.id);
            Judged {
                report,
                verdict: verdict(&report.outcome, deviation),
                deviation,
            }
        })
        .collect()
}

/// Whether anything unexpected happened (see [`Verdict::is_unexpected`]).
pub fn any_unexpected(judged: &[Judged<'_>], strict: bool) -> bool {
    judged.iter().any(|j| j.verdict.is_unexpected(strict))
}

/// How many reports have each verdict, in [`Verdict::ALL`] order.
pub fn counts(judged: &[Judged<'_>]) -> Vec<(Verdict, usize)> {
    Verdict::ALL
        .into_iter()
        .map(|v| (v, judged.iter().filter(|j| j.verdict == v).count()))
        .collect()
}

/// The specification text a case tests, shortened to one line of at most
/// `max` characters: the first of its rules' texts, or its reference into
/// the specification's prose when no rule states it.
pub fn spec_line(case: &Case, max: usize) -> String {
    let text = case
        .rules
        .iter()
        .find_map(|(path, name)| RULES.iter().find(|r| r.path == *path && r.name == *name))
        .map(|r| format!("{}/{}: {}", r.path, r.name, r.text))
        .unwrap_or_else(|| format!("spec {}", case.reference));
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let cut: String = line.chars().take(max.saturating_sub(3)).collect();
        format!("{}...", cut.trim_end())
    }
}

fn summary(judged: &[Judged<'_>]) -> String {
    let parts: Vec<String> = counts(judged)
        .into_iter()
        .map(|(v, n)| format!("{n} {}", v.as_str()))
        .collect();
    format!("{} cases: {}", judged.len(), parts.join(", "))
}

/// The text report: a line per case grouped by class, with its level and
/// the specification text it tests; what was expected and observed and the
/// frames exchanged for failures; the listed deviation where there is one;
/// then the counts.
pub fn text(judged: &[Judged<'_>], strict: bool) -> String {
    let mut out = String::new();
    let mut class = "";
    for j in judged {
        let case = j.report.case;
        if case.class != class {
            class = case.class;
            let _ = writeln!(out, "{class}");
        }
        let _ = writeln!(
            out,
            "  {:<5} {:<6} {:<45} {}",
            j.verdict.label(),
            case.level,
            case.id,
            case.title
        );
        let _ = writeln!(out, "        spec: {}", spec_line(case, 110));
        if let Some(d) = j.deviation {
            let _ = writeln!(out, "        deviation: {}", d.instead);
            let _ = writeln!(out, "        reference: {}", d.reference);
        }
        match &j.report.outcome {
            Outcome::Fail {
                expected,
                observed,
                frames,
            } => {
                let _ = writeln!(out, "        expected: {expected}");
                let _ = writeln!(out, "        observed: {observed}");
                for f in frames {
                    let _ = writeln!(out, "          {f}");
                }
            }
            Outcome::NotApplicable(why) => {
                let _ = writeln!(out, "        {why}");
            }
            Outcome::Pass if j.verdict == Verdict::UnexpectedPass => {
                let _ = writeln!(out, "        passed although the deviation is listed");
            }
            Outcome::Pass => {}
        }
    }
    let _ = writeln!(out, "\n{}", summary(judged));
    if any_unexpected(judged, strict) {
        let _ = writeln!(out, "unexpected results");
    }
    out
}

/// The JSON report: `{"broker", "strict", "unexpected", "counts", "cases":
/// [...]}`, one object per case with its id, class, level, verdict,
/// rules, spec text, timing, and the failure or deviation details.
pub fn json(judged: &[Judged<'_>], deviations: &Deviations, strict: bool) -> String {
    let cases: Vec<Value> = judged
        .iter()
        .map(|j| {
            let case = j.report.case;
            let mut v = json!({
                "id": case.id,
                "class": case.class,
                "title": case.title,
                "level": case.level.as_str(),
                "verdict": j.verdict.as_str(),
                "unexpected": j.verdict.is_unexpected(strict),
                "rules": case.rules.iter().map(|(p, n)| format!("{p}/{n}")).collect::<Vec<_>>(),
                "spec": spec_line(case, usize::MAX),
                "elapsed_ms": j.report.elapsed.as_millis() as u64,
            });
            match &j.report.outcome {
                Outcome::Fail {
                    expected,
                    observed,
                    frames,
                } => {
                    v["expected"] = json!(expected);
                    v["observed"] = json!(observed);
                    v["frames"] = json!(frames);
                }
                Outcome::NotApplicable(why) => v["reason"] = json!(why),
                Outcome::Pass => {}
            }
            if let Some(d) = j.deviation {
                v["deviation"] = json!({ "instead": d.instead, "reference": d.reference });
            }
            v
        })
        .collect();
    let counts: serde_json::Map<String, Value> = counts(judged)
        .into_iter()
        .map(|(v, n)| (v.as_str().to_owned(), json!(n)))
        .collect();
    let root = json!({
        "broker": if deviations.broker.is_empty() { Value::Null } else { json!(deviations.broker) },
        "strict": strict,
        "unexpected": any_unexpected(judged, strict),
        "counts": counts,
        "cases": cases,
    });
    serde_json::to_string_pretty(&root).unwrap_or_default() + "\n"
}

/// Escapes `s` for XML text and attribute values; characters XML 1.0 does
/// not allow are replaced with U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML report: a `<testsuite>` per class, a `<testcase>` per
/// case; an unexpected verdict is a `<failure>`, an expected failure or a
/// non-strict unexpected pass is `<skipped>` with the deviation, and a case
/// that does not apply is `<skipped>` with the reason.
pub fn junit(judged: &[Judged<'_>], strict: bool) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures = judged
        .iter()
        .filter(|j| j.verdict.is_unexpected(strict))
        .count();
    let total_time: f64 = judged.iter().map(|j| j.report.elapsed.as_secs_f64()).sum();
    let _ = writeln!(
        out,
        "<testsuites name=\"amqp-conform\" tests=\"{}\" failures=\"{failures}\" time=\"{total_time:.3}\">",
        judged.len()
    );
    let mut classes: Vec<&str> = Vec::new();
    for j in judged {
        if !classes.contains(&j.report.case.class) {
            classes.push(j.report.case.class);
        }
    }
    for class in classes {
        let members: Vec<&Judged<'_>> = judged
            .iter()
            .filter(|j| j.report.case.class == class)
            .collect();
        let fails = members
            .iter()
            .filter(|j| j.verdict.is_unexpected(strict))
            .count();
        let skips = members.len()
            - fails
            - members
                .iter()
                .filter(|j| j.verdict == Verdict::Pass)
                .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"0\" skipped=\"{skips}\">",
            xml_escape(class),
            members.len()
        );
        for j in members {
            let case = j.report.case;
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                xml_escape(case.class),
                xml_escape(case.id),
                j.report.elapsed.as_secs_f64()
            );
            let _ = writeln!(
                out,
                "      <properties><property name=\"level\" value=\"{}\"/><property name=\"verdict\" value=\"{}\"/><property name=\"spec\" value=\"{}\"/></properties>",
                case.level.as_str(),
                j.verdict.as_str(),
                xml_escape(&spec_line(case, usize::MAX))
            );
            let deviation = j
                .deviation
                .map(|d| format!("deviation: {} (reference: {})", d.instead, d.reference))
                .unwrap_or_default();
            let detail = match &j.report.outcome {
                Outcome::Fail {
                    expected,
                    observed,
                    frames,
                } => format!(
                    "expected: {expected}\nobserved: {observed}\n{}",
                    frames.join("\n")
                ),
                Outcome::NotApplicable(why) => why.clone(),
                Outcome::Pass => String::new(),
            };
            let message = match j.verdict {
                Verdict::UnexpectedPass => format!("unexpected pass; {deviation}"),
                Verdict::ExpectedFailure => format!("expected failure; {deviation}"),
                _ => detail.lines().next().unwrap_or("").to_owned(),
            };
            let tag = if j.verdict.is_unexpected(strict) {
                Some("failure")
            } else if j.verdict == Verdict::Pass {
                None
            } else {
                Some("skipped")
            };
            if let Some(tag) = tag {
                let _ = writeln!(
                    out,
                    "      <{tag} type=\"{}\" message=\"{}\">{}</{tag}>",
                    j.verdict.as_str(),
                    xml_escape(&message),
                    xml_escape(&detail)
                );
            }
            let _ = writeln!(out, "    </testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Deviation {
        Deviation {
            case: "c".into(),
            instead: "i".into(),
            reference: "r".into(),
        }
    }

    #[test]
    fn verdicts() {
        let fail = Outcome::Fail {
            expected: "e".into(),
            observed: "o".into(),
            frames: vec![],
        };
        let d = dev();
        assert_eq!(verdict(&Outcome::Pass, None), Verdict::Pass);
        assert_eq!(verdict(&Outcome::Pass, Some(&d)), Verdict::UnexpectedPass);
        assert_eq!(verdict(&fail, None), Verdict::Fail);
        assert_eq!(verdict(&fail, Some(&d)), Verdict::ExpectedFailure);
        let na = Outcome::NotApplicable("x".into());
        assert_eq!(verdict(&na, Some(&d)), Verdict::NotApplicable);
        assert!(Verdict::Fail.is_unexpected(false));
        assert!(!Verdict::UnexpectedPass.is_unexpected(false));
        assert!(Verdict::UnexpectedPass.is_unexpected(true));
        assert!(!Verdict::ExpectedFailure.is_unexpected(true));
        assert!(!Verdict::NotApplicable.is_unexpected(true));
    }

    #[test]
    fn escapes_xml() {
        assert_eq!(
            xml_escape("<a b=\"c\" d='e'>&\u{1}\n"),
            "&lt;a b=&quot;c&quot; d=&apos;e&apos;&gt;&amp;\u{FFFD}\n"
        );
    }

    #[test]
    fn spec_line_is_one_short_line() {
        for case in crate::cases::all() {
            let line = spec_line(case, 80);
            assert!(line.chars().count() <= 80 && !line.contains('\n'), "{line}");
            assert!(!line.is_empty());
        }
    }
}
