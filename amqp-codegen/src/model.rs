//! The typed model of the XML specification: what the file says, before any
//! resolution. No Rust syntax lives here.

/// A position in the XML file and the path of elements leading to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// Element path, e.g. `amqp/class[basic]/method[publish]/field[exchange]`.
    pub path: String,
}

/// A `<doc>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// The `type` attribute (`grammar`, `scenario`), if any.
    pub kind: Option<String>,
    /// The raw text.
    pub text: String,
}

/// A `<rule>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name.
    pub name: String,
    /// The reply-code name to fail with, from `on-failure`.
    pub on_failure: Option<String>,
    /// Its `<doc>` children.
    pub docs: Vec<Doc>,
}

/// An `<assert>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assert {
    /// `notnull`, `length`, `regexp`, `le`, ...
    pub check: String,
    /// The `value` attribute.
    pub value: Option<String>,
    /// The `method` attribute.
    pub method: Option<String>,
    /// The `field` attribute.
    pub field: Option<String>,
}

/// A `<chassis>` element: which peer must/should/may *receive* a class or method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chassis {
    /// `client` or `server`.
    pub name: String,
    /// `MUST`, `SHOULD` or `MAY`.
    pub implement: String,
}

/// Everything a documented element carries besides its own attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Documentation {
    /// The `label` attribute.
    pub label: Option<String>,
    /// `<doc>` children.
    pub docs: Vec<Doc>,
    /// `<rule>` children.
    pub rules: Vec<Rule>,
}

/// A `<constant>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constant {
    /// Name as in the XML (`frame-method`).
    pub name: String,
    /// Value.
    pub value: u32,
    /// `soft-error`, `hard-error` or absent.
    pub class: Option<String>,
    /// Documentation.
    pub doc: Documentation,
    /// Where it is.
    pub location: Location,
}

/// A `<domain>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Name.
    pub name: String,
    /// The type it aliases (another domain or a primitive type).
    pub ty: String,
    /// Asserts.
    pub asserts: Vec<Assert>,
    /// Documentation.
    pub doc: Documentation,
    /// Where it is.
    pub location: Location,
}

/// A `<field>` (a method argument, or a content property when inside a class).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Name.
    pub name: String,
    /// The `domain` attribute.
    pub domain: Option<String>,
    /// The `type` attribute.
    pub ty: Option<String>,
    /// `reserved="1"`.
    pub reserved: bool,
    /// The non-standard `required` attribute (or its misspelling `requred`).
    pub required: Option<bool>,
    /// Asserts.
    pub asserts: Vec<Assert>,
    /// Documentation.
    pub doc: Documentation,
    /// Where it is.
    pub location: Location,
}

/// A `<method>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// Name.
    pub name: String,
    /// Method id.
    pub index: u16,
    /// `synchronous="1"`.
    pub synchronous: bool,
    /// `content="1"`.
    pub content: bool,
    /// `deprecated="1"`.
    pub deprecated: bool,
    /// `<chassis>` children.
    pub chassis: Vec<Chassis>,
    /// `<response>` children: names of methods of the same class.
    pub responses: Vec<String>,
    /// Arguments, in wire order.
    pub fields: Vec<Field>,
    /// Documentation.
    pub doc: Documentation,
    /// Where it is.
    pub location: Location,
}

/// A `<class>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Name.
    pub name: String,
    /// Class id.
    pub index: u16,
    /// `handler` attribute (`connection` or `channel`).
    pub handler: Option<String>,
    /// `<chassis>` children.
    pub chassis: Vec<Chassis>,
    /// Content properties (class-level `<field>`s), in flag order.
    pub properties: Vec<Field>,
    /// Methods, in file order.
    pub methods: Vec<Method>,
    /// Documentation.
    pub doc: Documentation,
    /// Where it is.
    pub location: Location,
}

/// The whole `<amqp>` document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spec {
    /// Protocol major version.
    pub major: u8,
    /// Protocol minor version.
    pub minor: u8,
    /// Protocol revision.
    pub revision: u8,
    /// Default port.
    pub port: u16,
    /// Constants, in file order.
    pub constants: Vec<Constant>,
    /// Domains, in file order.
    pub domains: Vec<Domain>,
    /// Classes, in file order.
    pub classes: Vec<Class>,
}
