//! The command line against the local RabbitMQ 3.10: with its deviations
//! file nothing is unexpected; without it the deviations are failures; a
//! listed deviation that passes is an unexpected pass, a failure under
//! `--strict`; the JSON parses and the JUnit XML is well formed.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const DEPARTURES: usize = 26;

fn uri() -> String {
    std::env::var("AMQP_CONFORM_URI")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

fn rabbitmq_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deviations/rabbitmq-3.10.json")
}

/// Runs `amqp-conform broker URI ARGS...`: (exit code, stdout).
fn broker(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amqp-conform"))
        .args(["broker", &uri(), "--timeout", "3"])
        .args(args)
        .output()
        .expect("run amqp-conform");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let code = out.status.code().expect("exit code");
    (code, stdout)
}

/// Checks that `xml` is well formed: one declaration, tags that nest and
/// close, attribute values quoted, no raw `<` or stray `&` in text.
fn assert_well_formed(xml: &str) {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    let check_text = |t: &str| {
        for (i, _) in t.match_indices('&') {
            let entity = &t[i..t[i..].find(';').map(|e| i + e + 1).expect("entity end")];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
                "bad entity {entity}"
            );
        }
    };
    while let Some(start) = rest.find('<') {
        check_text(&rest[..start]);
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "raw < in {tag}");
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in {tag}"
        );
        let quoted_free: String = tag.split('"').step_by(2).collect();
        assert!(!quoted_free.contains('&') && !quoted_free.contains('>'));
        check_text(tag);
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().expect("tag name");
            stack.push(name.to_owned());
        }
        rest = &rest[end + 1..];
        if stack.is_empty() {
            assert!(rest.trim().is_empty(), "content after the root: {rest}");
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
}

#[test]
fn with_the_rabbitmq_file_nothing_is_unexpected() {
    let file = rabbitmq_file();
    let (code, out) = broker(&["--deviations", file.to_str().unwrap(), "--format", "json"]);
    let v: Value = serde_json::from_str(&out).expect("JSON output parses");
    assert_eq!(code, 0, "{out}");
    assert_eq!(v["unexpected"], Value::Bool(false));
    assert_eq!(v["broker"], "RabbitMQ 3.10");
    assert_eq!(v["counts"]["fail"], 0);
    assert_eq!(v["counts"]["unexpected-pass"], 0);
    assert_eq!(v["counts"]["expected-failure"], DEPARTURES);
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), amqp_conform::cases::all().len());
    for c in cases {
        let verdict = c["verdict"].as_str().expect("verdict");
        assert!(["pass", "expected-failure"].contains(&verdict), "{c}");
        assert!(
            ["MUST", "SHOULD"].contains(&c["level"].as_str().unwrap()),
            "{c}"
        );
        assert!(!c["spec"].as_str().unwrap().is_empty(), "{c}");
        if verdict == "expected-failure" {
            assert!(c["deviation"]["reference"].is_string(), "{c}");
            assert!(c["observed"].is_string() && c["frames"].is_array(), "{c}");
        }
    }
}

#[test]
fn without_it_the_deviations_fail() {
    let (code, out) = broker(&["--format", "junit"]);
    assert_ne!(code, 0, "{out}");
    assert_well_formed(&out);
    assert_eq!(
        out.matches("<testcase ").count(),
        amqp_conform::cases::all().len()
    );
    assert_eq!(
        out.matches("<failure type=\"fail\"").count(),
        DEPARTURES,
        "{out}"
    );
    let suites = format!(
        "<testsuites name=\"amqp-conform\" tests=\"{}\" failures=\"{DEPARTURES}\"",
        amqp_conform::cases::all().len()
    );
    assert!(out.contains(&suites), "{out}");
    let (code, text) = broker(&["--case", "queue.delete-missing"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("FAIL  MUST   queue.delete-missing"), "{text}");
    assert!(
        text.contains("spec: queue.delete.queue/must-exist:"),
        "{text}"
    );
}

#[test]
fn a_listed_deviation_that_passes_is_an_unexpected_pass() {
    let file = std::env::temp_dir().join(format!("amqp-conform-xpass-{}.json", std::process::id()));
    std::fs::write(
        &file,
        r#"{"broker": "test", "deviations": [{"case": "queue.declare-generated-name",
            "instead": "said to fail", "reference": "undocumented"}]}"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (code, text) = broker(&[
        "--case",
        "queue.declare-generated-name",
        "--deviations",
        path,
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("XPASS MUST   queue.declare-generated-name"),
        "{text}"
    );
    assert!(text.contains("1 unexpected-pass"), "{text}");
    let (code, out) = broker(&[
        "--case",
        "queue.declare-generated-name",
        "--deviations",
        path,
        "--strict",
        "--format",
        "json",
    ]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).expect("JSON output parses");
    assert_eq!(v["unexpected"], Value::Bool(true));
    assert_eq!(v["cases"][0]["verdict"], "unexpected-pass");
    assert_eq!(v["cases"][0]["unexpected"], Value::Bool(true));
}

#[test]
fn a_bad_deviations_file_is_rejected() {
    let file = std::env::temp_dir().join(format!("amqp-conform-bad-{}.json", std::process::id()));
    std::fs::write(
        &file,
        r#"{"broker": "test", "deviations": [{"case": "no.such-case", "instead": "x", "reference": "y"}]}"#,
    )
    .unwrap();
    let (code, _) = broker(&["--case", "queue", "--deviations", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(code, 2);
}

#[test]
fn the_xml_check_rejects_malformed_xml() {
    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    assert_well_formed(&format!("{decl}<a x=\"1\"><b/>t &amp; u</a>\n"));
    for bad in [
        "<a><b></a>",
        "<a>x < y</a>",
        "<a>&bogus;</a>",
        "<a>",
        "<a/><b/>",
    ] {
        let xml = format!("{decl}{bad}");
        assert!(
            std::panic::catch_unwind(|| assert_well_formed(&xml)).is_err(),
            "accepted {bad}"
        );
    }
}

#[test]
fn the_rabbitmq_file_loads_with_a_reference_per_entry() {
    let d = amqp_conform::deviations::Deviations::load(&rabbitmq_file(), |id| {
        amqp_conform::cases::find(id).is_some()
    })
    .expect("the RabbitMQ file loads");
    assert_eq!(d.entries.len(), DEPARTURES);
    for e in &d.entries {
        assert!(
            e.reference.starts_with("https://www.rabbitmq.com/")
                || e.reference.starts_with("undocumented"),
            "{e:?}"
        );
    }
}
