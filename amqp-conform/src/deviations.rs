//! Deviations: the cases a broker is known to fail, what it does instead,
//! and where that is documented.
//!
//! A deviations file is JSON:
//!
//! ```json
//! {
//!   "broker": "RabbitMQ 3.10",
//!   "deviations": [
//!     {
//!       "case": "queue.delete-missing",
//!       "instead": "answers queue.delete-ok: deletion is idempotent",
//!       "reference": "https://www.rabbitmq.com/specification.html (methods table, queue.delete)"
//!     }
//!   ]
//! }
//! ```
//!
//! `reference` is where the broker documents the difference, or
//! `undocumented`.

use std::fmt;
use std::path::Path;

use serde_json::Value;

/// One listed deviation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deviation {
    /// The case id it applies to.
    pub case: String,
    /// What the broker does instead of what the case requires.
    pub instead: String,
    /// Where the broker documents it, or `undocumented`.
    pub reference: String,
}

/// A broker's list of deviations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deviations {
    /// The broker (and version) the list is for.
    pub broker: String,
    /// The deviations, one per case.
    pub entries: Vec<Deviation>,
}

/// Why a deviations file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviationsError(pub String);

impl fmt::Display for DeviationsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "deviations: {}", self.0)
    }
}

impl std::error::Error for DeviationsError {}

fn string(v: &Value, key: &str, at: &str) -> Result<String, DeviationsError> {
    match v.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(DeviationsError(format!(
            "{at}: \"{key}\" must be a non-empty string"
        ))),
    }
}

impl Deviations {
    /// Parses a deviations file's text. Every entry needs `case`, `instead`
    /// and `reference`; `known` says whether a case id exists, and an entry
    /// for an unknown or already listed case is an error.
    pub fn parse(text: &str, known: impl Fn(&str) -> bool) -> Result<Deviations, DeviationsError> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| DeviationsError(format!("not JSON: {e}")))?;
        let broker = string(&root, "broker", "top level")?;
        let Some(Value::Array(items)) = root.get("deviations") else {
            return Err(DeviationsError("\"deviations\" must be an array".into()));
        };
        let mut entries: Vec<Deviation> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("deviations[{i}]");
            let d = Deviation {
                case: string(item, "case", &at)?,
                instead: string(item, "instead", &at)?,
                reference: string(item, "reference", &at)?,
            };
            if !known(&d.case) {
                return Err(DeviationsError(format!("{at}: no case {}", d.case)));
            }
            if entries.iter().any(|e| e.case == d.case) {
                return Err(DeviationsError(format!("{at}: {} listed twice", d.case)));
            }
            entries.push(d);
        }
        Ok(Deviations { broker, entries })
    }

    /// Reads and parses the file at `path` (see [`Deviations::parse`]).
    pub fn load(path: &Path, known: impl Fn(&str) -> bool) -> Result<Deviations, DeviationsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DeviationsError(format!("{}: {e}", path.display())))?;
        Deviations::parse(&text, known)
    }

    /// The deviation listed for `case`, if any.
    pub fn get(&self, case: &str) -> Option<&Deviation> {
        self.entries.iter().find(|d| d.case == case)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let ok = r#"{"broker":"B","deviations":[{"case":"a.b","instead":"x","reference":"undocumented"}]}"#;
        let d = Deviations::parse(ok, |c| c == "a.b").unwrap();
        assert_eq!(d.broker, "B");
        assert_eq!(d.get("a.b").map(|d| d.instead.as_str()), Some("x"));
        assert!(d.get("a.c").is_none());
        assert!(Deviations::parse(ok, |_| false)
            .unwrap_err()
            .0
            .contains("no case a.b"));
        let missing = r#"{"broker":"B","deviations":[{"case":"a.b","instead":"x"}]}"#;
        assert!(Deviations::parse(missing, |_| true)
            .unwrap_err()
            .0
            .contains("reference"));
        let twice = r#"{"broker":"B","deviations":[
            {"case":"a.b","instead":"x","reference":"r"},
            {"case":"a.b","instead":"y","reference":"r"}]}"#;
        assert!(Deviations::parse(twice, |_| true)
            .unwrap_err()
            .0
            .contains("twice"));
        assert!(Deviations::parse("{", |_| true).is_err());
    }
}
