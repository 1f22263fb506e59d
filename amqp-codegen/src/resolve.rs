//! Resolution: domains to primitive types, request/reply pairs, direction, and
//! the documented corrections of the XML's known faults.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::model::*;

/// The nine primitive wire types of AMQP 0-9-1 method arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Primitive {
    /// One bit, packed with adjacent bits into octets.
    Bit,
    /// u8.
    Octet,
    /// u16.
    Short,
    /// u32.
    Long,
    /// u64.
    LongLong,
    /// u8 length + bytes.
    ShortStr,
    /// u32 length + bytes.
    LongStr,
    /// u32 length + field table.
    Table,
    /// u64 seconds.
    Timestamp,
}

impl Primitive {
    /// Parses a primitive type name as the XML spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "bit" => Primitive::Bit,
            "octet" => Primitive::Octet,
            "short" => Primitive::Short,
            "long" => Primitive::Long,
            "longlong" => Primitive::LongLong,
            "shortstr" => Primitive::ShortStr,
            "longstr" => Primitive::LongStr,
            "table" => Primitive::Table,
            "timestamp" => Primitive::Timestamp,
            _ => return None,
        })
    }

    /// The XML name.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Bit => "bit",
            Primitive::Octet => "octet",
            Primitive::Short => "short",
            Primitive::Long => "long",
            Primitive::LongLong => "longlong",
            Primitive::ShortStr => "shortstr",
            Primitive::LongStr => "longstr",
            Primitive::Table => "table",
            Primitive::Timestamp => "timestamp",
        }
    }
}

/// Which way a method travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the client, received by the server.
    ClientToServer,
    /// Sent by the server, received by the client.
    ServerToClient,
    /// Either peer may send it.
    Both,
}

/// One fix to a known fault of the XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// The method is synchronous and expects this reply.
    Response(&'static str),
    /// The method travels this way, whatever `<chassis>` says.
    Direction(Direction),
    /// The argument is renamed.
    RenameField {
        /// Name in the XML.
        from: &'static str,
        /// Name used everywhere else in the XML for the same thing.
        to: &'static str,
    },
}

/// A correction: which method, what fix, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Correction {
    /// `class.method` as the XML names it.
    pub method: &'static str,
    /// What changes.
    pub fix: Fix,
    /// Why, for the generated docs.
    pub reason: &'static str,
}

/// The one table of corrections to the XML. Each applies only when the method
/// exists (the plain spec has no update-secret, blocked or confirm).
pub const CORRECTIONS: &[Correction] = &[
    Correction {
        method: "basic.recover",
        fix: Fix::Response("recover-ok"),
        reason: "the XML gives basic.recover neither `synchronous` nor a `<response>`, \
                 but the server answers it with basic.recover-ok",
    },
    Correction {
        method: "connection.update-secret",
        fix: Fix::Direction(Direction::ClientToServer),
        reason: "the XML's chassis says the client receives it; the client sends it \
                 (to refresh an expiring credential)",
    },
    Correction {
        method: "connection.update-secret-ok",
        fix: Fix::Direction(Direction::ServerToClient),
        reason: "the reply to update-secret, which the client sends",
    },
    Correction {
        method: "connection.blocked",
        fix: Fix::Direction(Direction::ServerToClient),
        reason: "the XML lists both peers; only the server sends it",
    },
    Correction {
        method: "connection.unblocked",
        fix: Fix::Direction(Direction::ServerToClient),
        reason: "the XML lists both peers; only the server sends it",
    },
    Correction {
        method: "confirm.select",
        fix: Fix::RenameField {
            from: "nowait",
            to: "no-wait",
        },
        reason: "spelled `nowait` here and `no-wait` everywhere else in the XML",
    },
];

/// A field with its resolved type.
#[derive(Debug, Clone)]
pub struct RField<'a> {
    /// The model.
    pub field: &'a Field,
    /// Name after corrections.
    pub name: String,
    /// The domain named (or the type, for reserved fields).
    pub domain: String,
    /// The resolved primitive type.
    pub primitive: Primitive,
}

/// A method with everything the emitter needs.
#[derive(Debug, Clone)]
pub struct RMethod<'a> {
    /// The model.
    pub method: &'a Method,
    /// Class name.
    pub class_name: &'a str,
    /// Class id.
    pub class_id: u16,
    /// Arguments.
    pub fields: Vec<RField<'a>>,
    /// Direction after corrections.
    pub direction: Direction,
    /// The XML's `synchronous` attribute, after corrections.
    pub synchronous: bool,
    /// The replies this method expects: (method id, name), after corrections.
    pub responses: Vec<(u16, String)>,
    /// Whether some other method names this one as its reply.
    pub is_response: bool,
    /// The corrections that were applied.
    pub corrections: Vec<&'static Correction>,
}

/// A class with its methods sorted by id.
#[derive(Debug, Clone)]
pub struct RClass<'a> {
    /// The model.
    pub class: &'a Class,
    /// Methods by id.
    pub methods: Vec<RMethod<'a>>,
    /// Content properties.
    pub properties: Vec<RField<'a>>,
}

/// The resolved specification.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    /// The model.
    pub spec: &'a Spec,
    /// Classes by id.
    pub classes: Vec<RClass<'a>>,
    /// Every domain with its primitive type, in file order.
    pub domains: Vec<(&'a Domain, Primitive)>,
}

impl Resolved<'_> {
    /// Counts of classes, methods, method fields, properties, domains, constants.
    pub fn stats(&self) -> Stats {
        Stats {
            classes: self.classes.len(),
            methods: self.classes.iter().map(|c| c.methods.len()).sum(),
            method_fields: self
                .classes
                .iter()
                .flat_map(|c| &c.methods)
                .map(|m| m.fields.len())
                .sum(),
            properties: self.classes.iter().map(|c| c.properties.len()).sum(),
            domains: self.domains.len(),
            constants: self.spec.constants.len(),
        }
    }
}

/// Counts of what a specification defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Classes.
    pub classes: usize,
    /// Methods.
    pub methods: usize,
    /// Method arguments.
    pub method_fields: usize,
    /// Content properties.
    pub properties: usize,
    /// Domains.
    pub domains: usize,
    /// Constants.
    pub constants: usize,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "classes={} methods={} method-fields={} properties={} domains={} constants={}",
            self.classes,
            self.methods,
            self.method_fields,
            self.properties,
            self.domains,
            self.constants
        )
    }
}

fn resolve_domain(spec: &Spec, name: &str, location: &Location) -> Result<Primitive, Error> {
    let mut current = name;
    for _ in 0..=spec.domains.len() {
        let Some(d) = spec.domains.iter().find(|d| d.name == current) else {
            return Primitive::from_name(current).ok_or_else(|| {
                Error::new(location, format!("unknown domain or type {current:?}"))
            });
        };
        if d.ty == d.name {
            return Primitive::from_name(&d.ty).ok_or_else(|| {
                Error::new(&d.location, format!("{:?} is not a primitive type", d.ty))
            });
        }
        current = &d.ty;
    }
    Err(Error::new(
        location,
        format!("domain {name:?} is defined in a cycle"),
    ))
}

fn resolve_field<'a>(
    spec: &Spec,
    field: &'a Field,
    rename: Option<(&str, &str)>,
) -> Result<RField<'a>, Error> {
    let domain = field
        .domain
        .as_deref()
        .or(field.ty.as_deref())
        .unwrap_or_default()
        .to_owned();
    let primitive = resolve_domain(spec, &domain, &field.location)?;
    let name = match rename {
        Some((from, to)) if from == field.name => to.to_owned(),
        _ => field.name.clone(),
    };
    Ok(RField {
        field,
        name,
        domain,
        primitive,
    })
}

fn direction(method: &Method) -> Result<Direction, Error> {
    let to_server = method.chassis.iter().any(|c| c.name == "server");
    let to_client = method.chassis.iter().any(|c| c.name == "client");
    match (to_server, to_client) {
        (true, true) => Ok(Direction::Both),
        (true, false) => Ok(Direction::ClientToServer),
        (false, true) => Ok(Direction::ServerToClient),
        (false, false) => Err(Error::new(
            &method.location,
            "method has no <chassis>, so its direction is unknown",
        )),
    }
}

/// Resolves a parsed specification.
pub fn resolve(spec: &Spec) -> Result<Resolved<'_>, Error> {
    let mut domains = Vec::new();
    for d in &spec.domains {
        domains.push((d, resolve_domain(spec, &d.name, &d.location)?));
    }

    let mut class_ids = BTreeMap::new();
    for c in &spec.classes {
        if let Some(other) = class_ids.insert(c.index, &c.name) {
            return Err(Error::new(
                &c.location,
                format!("class id {} is also used by class {other}", c.index),
            ));
        }
    }

    let mut classes = Vec::new();
    for class in &spec.classes {
        let mut by_id: Vec<&Method> = class.methods.iter().collect();
        by_id.sort_by_key(|m| m.index);
        for pair in by_id.windows(2) {
            if pair[0].index == pair[1].index {
                return Err(Error::new(
                    &pair[1].location,
                    format!(
                        "method id {} is also used by {}",
                        pair[1].index, pair[0].name
                    ),
                ));
            }
        }
        let mut methods = Vec::new();
        for method in by_id {
            let full = format!("{}.{}", class.name, method.name);
            let corrections: Vec<&'static Correction> =
                CORRECTIONS.iter().filter(|c| c.method == full).collect();
            let rename = corrections.iter().find_map(|c| match c.fix {
                Fix::RenameField { from, to } => Some((from, to)),
                _ => None,
            });
            let fields = method
                .fields
                .iter()
                .map(|f| resolve_field(spec, f, rename))
                .collect::<Result<Vec<_>, _>>()?;
            let mut direction = direction(method)?;
            let mut response_names = method.responses.clone();
            for c in &corrections {
                match c.fix {
                    Fix::Direction(d) => direction = d,
                    Fix::Response(r) if !response_names.iter().any(|n| n == r) => {
                        response_names.push(r.to_owned())
                    }
                    _ => {}
                }
            }
            let mut responses = Vec::new();
            for r in &response_names {
                let Some(reply) = class.methods.iter().find(|m| &m.name == r) else {
                    return Err(Error::new(
                        &method.location,
                        format!(
                            "<response name={r:?}> names no method of class {}",
                            class.name
                        ),
                    ));
                };
                responses.push((reply.index, reply.name.clone()));
            }
            let is_response = class.methods.iter().any(|m| {
                m.responses.contains(&method.name)
                    || CORRECTIONS.iter().any(|c| {
                        c.method == format!("{}.{}", class.name, m.name)
                            && c.fix == Fix::Response(leak_name(&method.name))
                    })
            });
            methods.push(RMethod {
                method,
                class_name: &class.name,
                class_id: class.index,
                fields,
                direction,
                synchronous: method.synchronous
                    || corrections
                        .iter()
                        .any(|c| matches!(c.fix, Fix::Response(_))),
                responses,
                is_response,
                corrections,
            });
        }
        let properties = class
            .properties
            .iter()
            .map(|f| resolve_field(spec, f, None))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(p) = properties.iter().find(|p| p.primitive == Primitive::Bit) {
            return Err(Error::new(
                &p.field.location,
                "bit-typed content properties are not supported",
            ));
        }
        classes.push(RClass {
            class,
            methods,
            properties,
        });
    }
    classes.sort_by_key(|c| c.class.index);
    Ok(Resolved {
        spec,
        classes,
        domains,
    })
}

/// Finds the static name in the corrections table equal to `name`, so that a
/// `Fix::Response` can be compared with a method name.
fn leak_name(name: &str) -> &'static str {
    CORRECTIONS
        .iter()
        .find_map(|c| match c.fix {
            Fix::Response(r) if r == name => Some(r),
            _ => None,
        })
        .unwrap_or("")
}
