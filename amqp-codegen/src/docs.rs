//! Spec prose → rustdoc lines: dedented, markdown-significant characters
//! escaped, grammar blocks fenced as `text`.

use crate::model::{Assert, Doc, Documentation, Rule};

/// Accumulates rustdoc paragraphs.
#[derive(Debug, Default)]
pub(crate) struct DocBuilder {
    lines: Vec<String>,
}

impl DocBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| !l.is_empty()) {
            self.lines.push(String::new());
        }
    }

    /// Adds one paragraph of our own (already valid markdown).
    pub(crate) fn para(&mut self, text: impl Into<String>) {
        self.blank();
        self.lines.push(text.into());
    }

    /// Adds a label as a title sentence.
    pub(crate) fn label(&mut self, label: Option<&str>) {
        if let Some(l) = label {
            let mut chars = l.trim().chars();
            let title = match chars.next() {
                Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
                None => return,
            };
            self.para(format!("{}.", escape(&title)));
        }
    }

    /// Adds the `<doc>` elements.
    pub(crate) fn docs(&mut self, docs: &[Doc]) {
        for d in docs {
            self.doc(d, None);
        }
    }

    fn doc(&mut self, d: &Doc, prefix: Option<&str>) {
        let lines = dedent(&d.text);
        if lines.is_empty() {
            return;
        }
        self.blank();
        if d.kind.as_deref() == Some("grammar") {
            self.lines.push("```text".into());
            self.lines.extend(lines);
            self.lines.push("```".into());
            return;
        }
        let mut first = true;
        for line in lines {
            let t = line.trim();
            if t.is_empty() {
                self.blank();
                continue;
            }
            let mut out = escape(t);
            if first {
                if let Some(p) = prefix {
                    out = format!("{p}{out}");
                }
                first = false;
            }
            self.lines.push(out);
        }
    }

    /// Adds the `<rule>` elements.
    pub(crate) fn rules(&mut self, rules: &[Rule]) {
        for r in rules {
            let head = match &r.on_failure {
                Some(code) => format!("Rule `{}` (on failure: `{code}`)", r.name),
                None => format!("Rule `{}`", r.name),
            };
            // A scenario the specification left as a placeholder ("TODO", or
            // nothing) says nothing: it is not copied.
            let docs: Vec<_> = r
                .docs
                .iter()
                .filter(|d| {
                    d.kind.as_deref() != Some("scenario")
                        || !matches!(d.text.trim().trim_end_matches('.'), "" | "TODO")
                })
                .collect();
            if docs.is_empty() {
                self.para(format!("{head}."));
            }
            for d in docs {
                let prefix = if d.kind.as_deref() == Some("scenario") {
                    format!("*Test scenario for rule `{}`:* ", r.name)
                } else {
                    format!("**{head}:** ")
                };
                self.doc(d, Some(&prefix));
            }
        }
    }

    /// Adds a label, docs and rules.
    pub(crate) fn documentation(&mut self, doc: &Documentation) {
        self.label(doc.label.as_deref());
        self.docs(&doc.docs);
        self.rules(&doc.rules);
    }

    /// Adds asserts as a sentence.
    pub(crate) fn asserts(&mut self, asserts: &[Assert]) {
        for a in asserts {
            let mut s = format!("Assert `{}`", a.check);
            if let Some(v) = &a.value {
                s.push_str(&format!(" `{}`", v.replace('`', "'")));
            }
            if let Some(m) = &a.method {
                s.push_str(&format!(" (method `{m}`)"));
            }
            if let Some(f) = &a.field {
                s.push_str(&format!(" (field `{f}`)"));
            }
            s.push_str(" (documentation only: not enforced by the codec).");
            self.para(s);
        }
    }

    pub(crate) fn finish(mut self) -> Vec<String> {
        while self.lines.last().is_some_and(|l| l.is_empty()) {
            self.lines.pop();
        }
        if self.lines.is_empty() {
            self.lines
                .push("(No documentation in the specification.)".into());
        }
        self.lines
            .into_iter()
            .map(|l| if l.is_empty() { l } else { format!(" {l}") })
            .collect()
    }
}

/// Removes the common indentation and blank lines at both ends.
fn dedent(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end()).collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| {
            if l.len() >= indent {
                l[indent..].to_owned()
            } else {
                String::new()
            }
        })
        .collect();
    while out.first().is_some_and(|l| l.is_empty()) {
        out.remove(0);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

/// Escapes what markdown or rustdoc would otherwise interpret: link brackets,
/// HTML-like tags, emphasis, code spans.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '[' | ']' | '<' | '>' | '*' | '_' | '`' | '#' | '|' | '\\'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
