//! What the specification says about methods and fields, as data: the
//! generated code fills these in, and tools walk them instead of writing one
//! match arm per method.

use std::fmt;

use crate::{FieldTable, LongStr, Method, ShortStr, Timestamp};

/// Which peer sends a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server.
    ClientToServer,
    /// Server to client.
    ServerToClient,
    /// Either peer.
    Both,
}

/// A class id and method id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MethodId {
    /// Class id.
    pub class_id: u16,
    /// Method id.
    pub method_id: u16,
}

impl MethodId {
    /// The method's name (`basic.publish`), if the specification defines it.
    pub fn name(self) -> Option<&'static str> {
        crate::method_info(self.class_id, self.method_id).map(|m| m.name)
    }
}

impl fmt::Display for MethodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({}/{})", self.class_id, self.method_id),
            None => write!(f, "{}/{}", self.class_id, self.method_id),
        }
    }
}

/// The primitive wire type of an argument or property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmqpType {
    /// One bit, packed with adjacent bits.
    Bit,
    /// u8.
    Octet,
    /// u16.
    Short,
    /// u32.
    Long,
    /// u64.
    LongLong,
    /// Short string.
    ShortStr,
    /// Long string.
    LongStr,
    /// Field table.
    Table,
    /// Timestamp.
    Timestamp,
}

/// One argument or property as the specification defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldInfo {
    /// The specification's name (`routing-key`).
    pub name: &'static str,
    /// The domain it is declared with (`exchange-name`), or its type for
    /// reserved fields.
    pub domain: &'static str,
    /// Its wire type.
    pub ty: AmqpType,
    /// Whether the specification reserves it (`reserved-1`, ...).
    pub reserved: bool,
}

/// One method as the specification defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MethodInfo {
    /// Class id.
    pub class_id: u16,
    /// Method id.
    pub method_id: u16,
    /// `class.method`.
    pub name: &'static str,
    /// The specification's `synchronous` mark (corrected for basic.recover).
    pub synchronous: bool,
    /// Whether content follows.
    pub has_content: bool,
    /// Which peer sends it (corrected where the XML is wrong).
    pub direction: Direction,
    /// The replies it expects.
    pub responses: &'static [MethodId],
    /// Whether it is itself a reply.
    pub is_response: bool,
    /// Its arguments in wire order, reserved ones included.
    pub fields: &'static [FieldInfo],
}

impl MethodInfo {
    /// The ids.
    pub fn id(&self) -> MethodId {
        MethodId {
            class_id: self.class_id,
            method_id: self.method_id,
        }
    }

    /// Whether `reply` is one of the replies this method expects.
    pub fn expects(&self, reply: MethodId) -> bool {
        self.responses.contains(&reply)
    }
}

/// Implemented by every generated method struct, for generic code (for example
/// "send this request and wait for one of its replies").
pub trait MethodType: Sized + Into<Method> + TryFrom<Method, Error = Method> {
    /// What the specification says about the method.
    const METHOD: &'static MethodInfo;
}

/// A borrowed, typed argument or property value, as walked by
/// [`Method::fields`] and [`BasicProperties::get`](crate::BasicProperties::get).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArgValue<'a> {
    /// A bit.
    Bit(bool),
    /// An octet.
    Octet(u8),
    /// A short integer.
    Short(u16),
    /// A long integer.
    Long(u32),
    /// A long-long integer.
    LongLong(u64),
    /// A short string.
    ShortStr(&'a ShortStr),
    /// A long string.
    LongStr(&'a LongStr),
    /// A field table.
    Table(&'a FieldTable),
    /// A timestamp.
    Timestamp(Timestamp),
}

/// Whether a reply code closes a channel or the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExceptionKind {
    /// A soft error: the channel is closed.
    Channel,
    /// A hard error: the connection is closed.
    Connection,
}

/// An AMQP reply code. Open: codes the specification does not name are kept.
/// The named codes are associated constants (`ReplyCode::NOT_FOUND`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(pub u16);

impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "ReplyCode({} {n})", self.0),
            None => write!(f, "ReplyCode({})", self.0),
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Walks a method's arguments by their specification names, without
/// allocating. Created by [`Method::fields`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    method: &'a Method,
    infos: &'static [FieldInfo],
    index: usize,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(method: &'a Method) -> Self {
        Fields {
            method,
            infos: method.info().map(|i| i.fields).unwrap_or(&[]),
            index: 0,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'static FieldInfo, ArgValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let info = self.infos.get(self.index)?;
        let value = self.method.field(self.index)?;
        self.index += 1;
        Some((info, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.infos.len() - self.index;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Fields<'_> {}

/// What a [`RuleInfo`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleElement {
    /// A `<constant>`.
    Constant,
    /// A `<domain>`.
    Domain,
    /// A `<class>`.
    Class,
    /// A `<method>`.
    Method,
    /// A method's `<field>` (an argument).
    Field,
    /// A class-level `<field>` (a content property).
    Property,
}

/// One `<rule>` of the specification (see [`RULES`](crate::RULES)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleInfo {
    /// What the rule belongs to.
    pub element: RuleElement,
    /// Where: `basic.publish.exchange` (a field), `basic.publish` (a
    /// method), `basic` (a class), `exchange-name` (a domain),
    /// `frame-end` (a constant).
    pub path: &'static str,
    /// The rule's name (unique only within its element).
    pub name: &'static str,
    /// The reply code's name from `on-failure`, as the XML gives it.
    pub on_failure: Option<&'static str>,
    /// That reply code, when the specification defines it.
    pub reply_code: Option<ReplyCode>,
    /// Its text, one paragraph per blank line.
    pub text: &'static str,
    /// Its test scenario, when the specification gives one (never the
    /// "TODO" placeholders of the XML).
    pub scenario: Option<&'static str>,
}
