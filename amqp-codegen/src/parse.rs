//! XML → [`Spec`]: a small element tree first, then the typed model.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::Error;
use crate::model::*;

struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
    location: Location,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, Error> {
        self.attr(name).ok_or_else(|| {
            Error::new(
                &self.location,
                format!("<{}> lacks the `{name}` attribute", self.name),
            )
        })
    }

    fn flag(&self, name: &str) -> Result<bool, Error> {
        match self.attr(name) {
            None | Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(other) => Err(Error::new(
                &self.location,
                format!("attribute `{name}` must be 0 or 1, not {other:?}"),
            )),
        }
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, Error> {
        let raw = self.required(name)?;
        raw.trim().parse().map_err(|_| {
            Error::new(
                &self.location,
                format!("attribute `{name}` is not a valid number: {raw:?}"),
            )
        })
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Rejects child elements and attributes the generator does not understand,
    /// so that a new kind of XML construct is never silently ignored.
    fn check(&self, attrs: &[&str], children: &[&str]) -> Result<(), Error> {
        if let Some((k, _)) = self
            .attrs
            .iter()
            .find(|(k, _)| !attrs.contains(&k.as_str()))
        {
            return Err(Error::new(
                &self.location,
                format!("unexpected attribute `{k}` on <{}>", self.name),
            ));
        }
        if let Some(c) = self
            .children
            .iter()
            .find(|c| !children.contains(&c.name.as_str()))
        {
            return Err(Error::new(
                &c.location,
                format!("unexpected element <{}> inside <{}>", c.name, self.name),
            ));
        }
        Ok(())
    }
}

fn line_of(xml: &str, offset: usize) -> usize {
    1 + xml.as_bytes()[..offset.min(xml.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn open(
    xml: &str,
    reader: &Reader<&[u8]>,
    start: &BytesStart<'_>,
    parent: Option<&Element>,
    offset: usize,
) -> Result<Element, Error> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut location = Location {
        line: line_of(xml, offset),
        path: match parent {
            Some(p) => format!("{}/{name}", p.location.path),
            None => name.clone(),
        },
    };
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| Error::new(&location, format!("bad attribute: {e}")))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| Error::new(&location, format!("bad attribute value: {e}")))?
            .into_owned();
        attrs.push((key, value));
    }
    if let Some((_, n)) = attrs.iter().find(|(k, _)| k == "name") {
        location.path.push_str(&format!("[{n}]"));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
        location,
    })
}

fn tree(xml: &str) -> Result<Element, Error> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let offset = reader.buffer_position() as usize;
        let here = |stack: &Vec<Element>| Location {
            line: line_of(xml, offset),
            path: stack
                .last()
                .map(|e| e.location.path.clone())
                .unwrap_or_default(),
        };
        let event = reader
            .read_event()
            .map_err(|e| Error::new(&here(&stack), format!("malformed XML: {e}")))?;
        match event {
            Event::Start(start) => {
                let el = open(xml, &reader, &start, stack.last(), offset)?;
                stack.push(el);
            }
            Event::Empty(start) => {
                let el = open(xml, &reader, &start, stack.last(), offset)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(Error::new(&here(&stack), "unbalanced end tag"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(text) => {
                if let Some(el) = stack.last_mut() {
                    let t = text
                        .unescape()
                        .map_err(|e| Error::new(&el.location, format!("bad text: {e}")))?;
                    el.text.push_str(&t);
                }
            }
            Event::CData(data) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.ok_or_else(|| Error::new(&Location::default(), "document has no root element"))
}

/// Parses the XML text of an AMQP specification into the typed model.
pub fn parse(xml: &str) -> Result<Spec, Error> {
    let root = tree(xml)?;
    if root.name != "amqp" {
        return Err(Error::new(
            &root.location,
            "the root element must be <amqp>",
        ));
    }
    root.check(
        &["major", "minor", "revision", "port", "comment"],
        &["constant", "domain", "class"],
    )?;
    let mut spec = Spec {
        major: root.number("major")?,
        minor: root.number("minor")?,
        revision: root.number("revision")?,
        port: root.number("port")?,
        ..Spec::default()
    };
    for c in root.children("constant") {
        c.check(&["name", "value", "class"], &["doc"])?;
        spec.constants.push(Constant {
            name: c.required("name")?.to_owned(),
            value: c.number("value")?,
            class: c.attr("class").map(str::to_owned),
            doc: documentation(c)?,
            location: c.location.clone(),
        });
    }
    for d in root.children("domain") {
        d.check(&["name", "type", "label"], &["doc", "assert", "rule"])?;
        spec.domains.push(Domain {
            name: d.required("name")?.to_owned(),
            ty: d.required("type")?.to_owned(),
            asserts: asserts(d)?,
            doc: documentation(d)?,
            location: d.location.clone(),
        });
    }
    for c in root.children("class") {
        spec.classes.push(class(c)?);
    }
    Ok(spec)
}

fn documentation(el: &Element) -> Result<Documentation, Error> {
    let mut rules = Vec::new();
    for r in el.children("rule") {
        r.check(&["name", "on-failure"], &["doc"])?;
        rules.push(Rule {
            name: r.required("name")?.to_owned(),
            on_failure: r.attr("on-failure").map(str::to_owned),
            docs: docs(r)?,
        });
    }
    Ok(Documentation {
        label: el.attr("label").map(str::to_owned),
        docs: docs(el)?,
        rules,
    })
}

fn docs(el: &Element) -> Result<Vec<Doc>, Error> {
    el.children("doc")
        .map(|d| {
            d.check(&["type"], &[])?;
            Ok(Doc {
                kind: d.attr("type").map(str::to_owned),
                text: d.text.clone(),
            })
        })
        .collect()
}

fn asserts(el: &Element) -> Result<Vec<Assert>, Error> {
    el.children("assert")
        .map(|a| {
            a.check(&["check", "value", "method", "field"], &[])?;
            Ok(Assert {
                check: a.required("check")?.to_owned(),
                value: a.attr("value").map(str::to_owned),
                method: a.attr("method").map(str::to_owned),
                field: a.attr("field").map(str::to_owned),
            })
        })
        .collect()
}

fn chassis(el: &Element) -> Result<Vec<Chassis>, Error> {
    el.children("chassis")
        .map(|c| {
            c.check(&["name", "implement"], &[])?;
            let name = c.required("name")?;
            if name != "client" && name != "server" {
                return Err(Error::new(
                    &c.location,
                    format!("chassis must be `client` or `server`, not {name:?}"),
                ));
            }
            Ok(Chassis {
                name: name.to_owned(),
                implement: c.required("implement")?.to_owned(),
            })
        })
        .collect()
}

fn field(f: &Element) -> Result<Field, Error> {
    f.check(
        &[
            "name", "domain", "type", "reserved", "label", "required", "requred",
        ],
        &["doc", "rule", "assert"],
    )?;
    let domain = f.attr("domain").map(str::to_owned);
    let ty = f.attr("type").map(str::to_owned);
    if domain.is_some() == ty.is_some() {
        return Err(Error::new(
            &f.location,
            "a field needs exactly one of `domain` and `type`",
        ));
    }
    let required = match f.attr("required").or_else(|| f.attr("requred")) {
        None => None,
        Some("1") => Some(true),
        Some("0") => Some(false),
        Some(other) => {
            return Err(Error::new(
                &f.location,
                format!("`required` must be 0 or 1, not {other:?}"),
            ))
        }
    };
    Ok(Field {
        name: f.required("name")?.to_owned(),
        domain,
        ty,
        reserved: f.flag("reserved")?,
        required,
        asserts: asserts(f)?,
        doc: documentation(f)?,
        location: f.location.clone(),
    })
}

fn class(c: &Element) -> Result<Class, Error> {
    c.check(
        &["name", "handler", "index", "label"],
        &["doc", "chassis", "rule", "field", "method"],
    )?;
    let mut methods = Vec::new();
    for m in c.children("method") {
        m.check(
            &[
                "name",
                "synchronous",
                "index",
                "label",
                "content",
                "deprecated",
            ],
            &["doc", "chassis", "rule", "field", "response"],
        )?;
        let mut responses = Vec::new();
        for r in m.children("response") {
            r.check(&["name"], &[])?;
            responses.push(r.required("name")?.to_owned());
        }
        methods.push(Method {
            name: m.required("name")?.to_owned(),
            index: m.number("index")?,
            synchronous: m.flag("synchronous")?,
            content: m.flag("content")?,
            deprecated: m.flag("deprecated")?,
            chassis: chassis(m)?,
            responses,
            fields: m.children("field").map(field).collect::<Result<_, _>>()?,
            doc: documentation(m)?,
            location: m.location.clone(),
        });
    }
    Ok(Class {
        name: c.required("name")?.to_owned(),
        index: c.number("index")?,
        handler: c.attr("handler").map(str::to_owned),
        chassis: chassis(c)?,
        properties: c.children("field").map(field).collect::<Result<_, _>>()?,
        methods,
        doc: documentation(c)?,
        location: c.location.clone(),
    })
}
