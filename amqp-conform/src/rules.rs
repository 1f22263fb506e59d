//! The rules table: each rule of the specification with its level and
//! mapping.

use amqp_protocol::{RuleInfo, RULES};

use crate::mapping::{mapping, Mapping};
use crate::Level;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// The rule.
    pub rule: &'static RuleInfo,
    /// MUST/SHOULD/MAY from its wording.
    pub level: Level,
    /// How it is covered (`None` only if the mapping misses it, which a
    /// test forbids).
    pub mapping: Option<Mapping>,
}

/// Every rule, in the specification's order.
pub fn table() -> Vec<Row> {
    RULES
        .iter()
        .map(|rule| Row {
            rule,
            level: Level::of_text(rule.text),
            mapping: mapping(rule.path, rule.name),
        })
        .collect()
}

/// How many rules fall in each category, in a fixed order
/// (`broker`, `pending`, `client`, `untestable`, `unmapped`).
pub fn counts(rows: &[Row]) -> Vec<(&'static str, usize)> {
    let cat = |r: &Row| r.mapping.map(|m| m.category()).unwrap_or("unmapped");
    ["broker", "pending", "client", "untestable", "unmapped"]
        .into_iter()
        .map(|c| (c, rows.iter().filter(|r| cat(r) == c).count()))
        .collect()
}

/// The table as text, one rule a line, then the counts.
pub fn render(rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for r in rows {
        let what = match r.mapping {
            Some(Mapping::Broker(ids)) => format!("broker: {}", ids.join(", ")),
            Some(Mapping::Pending(what)) => format!("broker, no case yet: {what}"),
            Some(Mapping::Client(what)) => format!("client: {what}"),
            Some(Mapping::NotTestable(why)) => format!("not testable: {why}"),
            None => "UNMAPPED".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<40} {:<26} {:<6} {what}",
            r.rule.path, r.rule.name, r.level
        );
    }
    let _ = writeln!(out);
    for (cat, n) in counts(rows) {
        let _ = writeln!(out, "{cat:<11} {n}");
    }
    let _ = writeln!(out, "{:<11} {}", "total", rows.len());
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::cases;
    use crate::mapping::MAPPING;

    #[test]
    fn every_rule_is_mapped_exactly_once() {
        assert_eq!(RULES.len(), 139);
        for rule in RULES {
            let n = MAPPING
                .iter()
                .filter(|(p, n, _)| *p == rule.path && *n == rule.name)
                .count();
            assert_eq!(
                n, 1,
                "rule {} {:?} is mapped {n} times",
                rule.path, rule.name
            );
        }
        let keys: HashSet<_> = RULES.iter().map(|r| (r.path, r.name)).collect();
        for (p, n, _) in MAPPING {
            assert!(
                keys.contains(&(*p, *n)),
                "the mapping names {p} {n:?}, which is no rule"
            );
        }
        assert_eq!(MAPPING.len(), RULES.len());
    }

    #[test]
    fn every_case_named_exists_and_names_the_rule_back() {
        for (p, n, m) in MAPPING {
            if let Mapping::Broker(ids) = m {
                assert!(!ids.is_empty(), "rule {p} {n:?} maps to no case");
                for id in *ids {
                    let case =
                        cases::find(id).unwrap_or_else(|| panic!("rule {p} {n:?}: no case {id}"));
                    assert!(
                        case.rules.contains(&(*p, *n)),
                        "case {id} does not list rule {p} {n:?}"
                    );
                }
            }
        }
        for case in cases::all() {
            for (p, n) in case.rules {
                match mapping(p, n) {
                    Some(Mapping::Broker(ids)) => assert!(
                        ids.contains(&case.id),
                        "rule {p} {n:?} does not list case {}",
                        case.id
                    ),
                    other => panic!("case {} tests rule {p} {n:?}, mapped to {other:?}", case.id),
                }
            }
            assert!(
                !case.rules.is_empty() || !case.reference.is_empty(),
                "case {} cites nothing",
                case.id
            );
        }
    }

    #[test]
    fn case_ids_are_unique_and_start_with_their_class() {
        let all = cases::all();
        let ids: HashSet<_> = all.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), all.len());
        for c in all {
            assert!(c.id.starts_with(&format!("{}.", c.class)), "{}", c.id);
        }
    }

    #[test]
    fn levels_come_from_the_wording() {
        assert_eq!(Level::of_text("The server MUST NOT"), Level::Must);
        assert_eq!(Level::of_text("The client MAY NOT attempt"), Level::Must);
        assert_eq!(Level::of_text("it SHOULD log"), Level::Should);
        assert_eq!(Level::of_text("a peer MAY"), Level::May);
        let rows = table();
        let text = render(&rows);
        assert!(text.contains("channel.open"));
        assert_eq!(
            counts(&rows)
                .iter()
                .find(|(c, _)| *c == "unmapped")
                .map(|x| x.1),
            Some(0)
        );
    }
}
