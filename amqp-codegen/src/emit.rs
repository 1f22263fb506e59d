//! Resolved model → tokens. Every generated item carries the spec's prose as
//! rustdoc. The generated code relies on a small set of items of the crate it
//! is included in (see the crate docs of `amqp-codegen`).

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

use crate::docs::DocBuilder;
use crate::resolve::{Direction, Primitive, RClass, RField, RMethod, Resolved};

fn doc_attrs(lines: Vec<String>) -> TokenStream {
    let attrs = lines.into_iter().map(|l| quote!(#[doc = #l]));
    quote!(#(#attrs)*)
}

fn camel(name: &str) -> String {
    name.split(['-', ' ', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn snake(name: &str) -> String {
    name.replace(['-', ' '], "_")
}

fn screaming(name: &str) -> String {
    snake(name).to_uppercase()
}

/// The Rust identifier of a field or property: snake case, with `type`
/// (a keyword) renamed to `kind`.
pub(crate) fn field_ident(name: &str) -> Ident {
    match name {
        "type" => format_ident!("kind"),
        other => Ident::new(&snake(other), Span::call_site()),
    }
}

fn type_ident(name: &str) -> Ident {
    Ident::new(&camel(name), Span::call_site())
}

fn rust_type(p: Primitive) -> TokenStream {
    match p {
        Primitive::Bit => quote!(bool),
        Primitive::Octet => quote!(u8),
        Primitive::Short => quote!(u16),
        Primitive::Long => quote!(u32),
        Primitive::LongLong => quote!(u64),
        Primitive::ShortStr => quote!(ShortStr),
        Primitive::LongStr => quote!(LongStr),
        Primitive::Table => quote!(FieldTable),
        Primitive::Timestamp => quote!(Timestamp),
    }
}

fn amqp_type(p: Primitive) -> TokenStream {
    match p {
        Primitive::Bit => quote!(AmqpType::Bit),
        Primitive::Octet => quote!(AmqpType::Octet),
        Primitive::Short => quote!(AmqpType::Short),
        Primitive::Long => quote!(AmqpType::Long),
        Primitive::LongLong => quote!(AmqpType::LongLong),
        Primitive::ShortStr => quote!(AmqpType::ShortStr),
        Primitive::LongStr => quote!(AmqpType::LongStr),
        Primitive::Table => quote!(AmqpType::Table),
        Primitive::Timestamp => quote!(AmqpType::Timestamp),
    }
}

fn arg_value(p: Primitive, access: TokenStream) -> TokenStream {
    match p {
        Primitive::Bit => quote!(ArgValue::Bit(#access)),
        Primitive::Octet => quote!(ArgValue::Octet(#access)),
        Primitive::Short => quote!(ArgValue::Short(#access)),
        Primitive::Long => quote!(ArgValue::Long(#access)),
        Primitive::LongLong => quote!(ArgValue::LongLong(#access)),
        Primitive::ShortStr => quote!(ArgValue::ShortStr(&#access)),
        Primitive::LongStr => quote!(ArgValue::LongStr(&#access)),
        Primitive::Table => quote!(ArgValue::Table(&#access)),
        Primitive::Timestamp => quote!(ArgValue::Timestamp(#access)),
    }
}

/// Reads one non-bit value; `path` is a string literal.
fn read(p: Primitive, path: &str) -> TokenStream {
    match p {
        Primitive::Bit => unreachable!("bits are read in runs"),
        Primitive::Octet => quote!(r.octet(#path)?),
        Primitive::Short => quote!(r.short(#path)?),
        Primitive::Long => quote!(r.long(#path)?),
        Primitive::LongLong => quote!(r.longlong(#path)?),
        Primitive::ShortStr => quote!(r.shortstr(#path)?),
        Primitive::LongStr => quote!(r.longstr(#path)?),
        Primitive::Table => quote!(r.table(#path)?),
        Primitive::Timestamp => quote!(r.timestamp(#path)?),
    }
}

/// Writes one non-bit value held in `v` (a place expression).
fn write(p: Primitive, v: TokenStream) -> TokenStream {
    match p {
        Primitive::Bit => unreachable!("bits are written in runs"),
        Primitive::Octet => quote!(buf.put_u8(#v);),
        Primitive::Short => quote!(buf.put_u16(#v);),
        Primitive::Long => quote!(buf.put_u32(#v);),
        Primitive::LongLong => quote!(buf.put_u64(#v);),
        Primitive::Timestamp => quote!(buf.put_u64(#v.0);),
        Primitive::ShortStr | Primitive::LongStr | Primitive::Table => quote!(#v.encode(buf);),
    }
}

/// Bytes a value takes: a constant, or `None` when it depends on the value.
fn fixed_len(p: Primitive) -> Option<usize> {
    match p {
        Primitive::Bit => None,
        Primitive::Octet => Some(1),
        Primitive::Short => Some(2),
        Primitive::Long => Some(4),
        Primitive::LongLong | Primitive::Timestamp => Some(8),
        Primitive::ShortStr | Primitive::LongStr | Primitive::Table => None,
    }
}

/// Groups of fields: single non-bit fields, or runs of up to 8 bits sharing
/// one octet.
enum Group<'r, 'a> {
    One(&'r RField<'a>),
    Bits(Vec<&'r RField<'a>>),
}

fn groups<'r, 'a>(fields: &'r [RField<'a>]) -> Vec<Group<'r, 'a>> {
    let mut out: Vec<Group<'r, 'a>> = Vec::new();
    for f in fields {
        if f.primitive == Primitive::Bit {
            if let Some(Group::Bits(run)) = out.last_mut() {
                if run.len() < 8 {
                    run.push(f);
                    continue;
                }
            }
            out.push(Group::Bits(vec![f]));
        } else {
            out.push(Group::One(f));
        }
    }
    out
}

fn field_info(f: &RField<'_>) -> TokenStream {
    let name = &f.name;
    let domain = &f.domain;
    let ty = amqp_type(f.primitive);
    let reserved = f.field.reserved;
    quote!(FieldInfo { name: #name, domain: #domain, ty: #ty, reserved: #reserved })
}

fn field_docs(f: &RField<'_>, domains: &Resolved<'_>) -> Vec<String> {
    let mut d = DocBuilder::new();
    d.documentation(&f.field.doc);
    if f.field.reserved {
        d.para(
            "Reserved: the sender must write zero (or an empty string); the value is kept \
             as read so that re-encoding gives back the same bytes.",
        );
    }
    if let Some(domain) = domains.domains.iter().find(|(dm, _)| dm.name == f.domain) {
        if domain.0.name != f.primitive.name() {
            d.para(format!("Domain `{}` ({}).", f.domain, f.primitive.name()));
        }
        d.asserts(&domain.0.asserts);
    } else {
        d.para(format!("Type `{}`.", f.primitive.name()));
    }
    d.asserts(&f.field.asserts);
    if f.name != f.field.name {
        d.para(format!(
            "Spelled `{}` in the XML; named `{}` here, as everywhere else in the specification.",
            f.field.name, f.name
        ));
    }
    if f.field.required == Some(false) {
        d.para("Marked optional (`required=\"0\"`) in the XML.");
    }
    d.finish()
}

fn direction_tokens(d: Direction) -> TokenStream {
    match d {
        Direction::ClientToServer => quote!(Direction::ClientToServer),
        Direction::ServerToClient => quote!(Direction::ServerToClient),
        Direction::Both => quote!(Direction::Both),
    }
}

fn method_struct(m: &RMethod<'_>, spec: &Resolved<'_>) -> TokenStream {
    let ident = type_ident(&m.method.name);
    let full = format!("{}.{}", m.class_name, m.method.name);
    let class_id = m.class_id;
    let method_id = m.method.index;
    // The ids appear once, in `CLASS_ID` and `METHOD_ID`; everything else
    // names those.
    let class_id_lit = Literal::u16_unsuffixed(class_id);
    let method_id_lit = Literal::u16_unsuffixed(method_id);

    let mut d = DocBuilder::new();
    d.documentation(&m.method.doc);
    let dir = match m.direction {
        Direction::ClientToServer => "Sent by the client.",
        Direction::ServerToClient => "Sent by the server.",
        Direction::Both => "Sent by either peer.",
    };
    let mut meta = format!("`{full}`: class id {class_id}, method id {method_id}. {dir}");
    if m.method.content {
        meta.push_str(" Carries content (a content header and body frames follow).");
    }
    if !m.responses.is_empty() {
        let names: Vec<String> = m
            .responses
            .iter()
            .map(|(_, n)| format!("[`{}`]", camel(n)))
            .collect();
        meta.push_str(&format!(" Expects {} in reply.", names.join(" or ")));
    }
    if m.method.deprecated {
        meta.push_str(" Deprecated by the specification.");
    }
    d.para(meta);
    for c in &m.corrections {
        d.para(format!("Corrected from the XML: {}.", c.reason));
    }
    let docs = doc_attrs(d.finish());

    let names: Vec<Ident> = m.fields.iter().map(|f| field_ident(&f.name)).collect();
    let types: Vec<TokenStream> = m.fields.iter().map(|f| rust_type(f.primitive)).collect();
    let fdocs: Vec<TokenStream> = m
        .fields
        .iter()
        .map(|f| doc_attrs(field_docs(f, spec)))
        .collect();
    let infos: Vec<TokenStream> = m.fields.iter().map(field_info).collect();
    let synchronous = m.synchronous;
    let has_content = m.method.content;
    let is_response = m.is_response;
    let direction = direction_tokens(m.direction);
    let responses = m.responses.iter().map(|(_, name)| {
        let reply = format_ident!("{}", camel(name));
        quote!(MethodId { class_id: Self::CLASS_ID, method_id: #reply::METHOD_ID })
    });

    let mut decode = Vec::new();
    let mut encode = Vec::new();
    let mut fixed = 0usize;
    let mut dynamic = Vec::new();
    for (gi, g) in groups(&m.fields).into_iter().enumerate() {
        match g {
            Group::One(f) => {
                let id = field_ident(&f.name);
                let path = format!("{full}.{}", f.name);
                let r = read(f.primitive, &path);
                decode.push(quote!(let #id = #r;));
                encode.push(write(f.primitive, quote!(self.#id)));
                match fixed_len(f.primitive) {
                    Some(n) => fixed += n,
                    None => dynamic.push(quote!(self.#id.encoded_len())),
                }
            }
            Group::Bits(run) => {
                let octet = format_ident!("bits_{}", gi);
                let path = format!("{full}.{}", run[0].name);
                let count = Literal::u8_unsuffixed(run.len() as u8);
                decode.push(quote!(let #octet = r.bits(#path, #count)?;));
                let mut parts = Vec::new();
                for (i, f) in run.iter().enumerate() {
                    let id = field_ident(&f.name);
                    let mask = Literal::u8_unsuffixed(1u8 << i);
                    let shift = Literal::u8_unsuffixed(i as u8);
                    decode.push(quote!(let #id = #octet & #mask != 0;));
                    parts.push(if i == 0 {
                        quote!(u8::from(self.#id))
                    } else {
                        quote!((u8::from(self.#id) << #shift))
                    });
                }
                encode.push(quote!(buf.put_u8(#(#parts)|*);));
                fixed += 1;
            }
        }
    }
    let len = if dynamic.is_empty() {
        let fixed = Literal::usize_unsuffixed(fixed);
        quote!(#fixed)
    } else if fixed == 0 {
        quote!(#(#dynamic)+*)
    } else {
        let fixed = Literal::usize_unsuffixed(fixed);
        quote!(#fixed #(+ #dynamic)*)
    };
    let variant = variant_ident(m);
    let value_arms = m.fields.iter().enumerate().map(|(i, f)| {
        let id = field_ident(&f.name);
        let v = arg_value(f.primitive, quote!(self.#id));
        let i = Literal::usize_unsuffixed(i);
        quote!(#i => Some(#v),)
    });
    let buf_param = if encode.is_empty() {
        quote!(_buf)
    } else {
        quote!(buf)
    };
    let r_param = if decode.is_empty() {
        quote!(_r)
    } else {
        quote!(r)
    };
    let self_value = if m.fields.is_empty() {
        quote!(_index: usize)
    } else {
        quote!(index: usize)
    };
    let value_body = if m.fields.is_empty() {
        quote!(None)
    } else {
        quote!(match index { #(#value_arms)* _ => None })
    };
    let body = if m.fields.is_empty() {
        quote!(;)
    } else {
        quote!({ #(#fdocs pub #names: #types,)* })
    };

    quote! {
        #docs
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct #ident #body

        impl #ident {
            /// Everything the specification says about this method, as data.
            pub const INFO: MethodInfo = MethodInfo {
                class_id: Self::CLASS_ID,
                method_id: Self::METHOD_ID,
                name: #full,
                synchronous: #synchronous,
                has_content: #has_content,
                direction: #direction,
                responses: &[#(#responses),*],
                is_response: #is_response,
                fields: &[#(#infos),*],
            };
            /// The class id.
            pub const CLASS_ID: u16 = #class_id_lit;
            /// The method id.
            pub const METHOD_ID: u16 = #method_id_lit;
            /// `class.method`, as the specification names it.
            pub const NAME: &'static str = #full;
            /// Whether the specification marks the method synchronous.
            pub const SYNCHRONOUS: bool = #synchronous;
            /// Whether content (a header and body frames) follows the method.
            pub const HAS_CONTENT: bool = #has_content;
            /// Which peer sends the method.
            pub const DIRECTION: Direction = #direction;
            /// The replies the method expects, empty when none.
            pub const RESPONSES: &'static [MethodId] = Self::INFO.responses;
            /// Whether the method is itself the reply to another.
            pub const IS_RESPONSE: bool = #is_response;

            /// Length of [`encode`](Self::encode)'s output: the class and method
            /// ids and the arguments.
            pub fn encoded_len(&self) -> usize {
                4 + self.args_len()
            }

            /// Writes the method payload (class id, method id, arguments).
            pub fn encode<B: BufMut>(&self, buf: &mut B) {
                buf.put_u16(Self::CLASS_ID);
                buf.put_u16(Self::METHOD_ID);
                self.encode_args(buf);
            }

            /// Decodes a method payload (class id, method id, arguments), which
            /// must be this method and end after its last argument.
            pub fn decode(payload: &Bytes) -> Result<Self, Error> {
                let mut r = Reader::method(payload, &Self::INFO)?;
                let m = Self::decode_args(&mut r)?;
                r.finish(#full)?;
                Ok(m)
            }

            /// The value of the argument at `index` (in [`INFO`](Self::INFO)`.fields` order).
            pub fn field(&self, #self_value) -> Option<ArgValue<'_>> {
                #value_body
            }

            pub(crate) fn args_len(&self) -> usize {
                #len
            }

            pub(crate) fn encode_args<B: BufMut>(&self, #buf_param: &mut B) {
                #(#encode)*
            }

            pub(crate) fn decode_args(#r_param: &mut Reader<'_>) -> Result<Self, Error> {
                #(#decode)*
                Ok(Self { #(#names),* })
            }
        }

        impl MethodType for #ident {
            const METHOD: &'static MethodInfo = &Self::INFO;
        }

        impl From<#ident> for Method {
            fn from(m: #ident) -> Method {
                Method::#variant(m)
            }
        }
    }
}

fn variant_ident(m: &RMethod<'_>) -> Ident {
    format_ident!("{}{}", camel(m.class_name), camel(&m.method.name))
}

fn method_enum(spec: &Resolved<'_>) -> TokenStream {
    let all: Vec<&RMethod<'_>> = spec.classes.iter().flat_map(|c| &c.methods).collect();
    let variants: Vec<Ident> = all.iter().map(|m| variant_ident(m)).collect();
    let paths: Vec<TokenStream> = all
        .iter()
        .map(|m| {
            let module = Ident::new(&snake(m.class_name), Span::call_site());
            let ty = type_ident(&m.method.name);
            quote!(#module::#ty)
        })
        .collect();
    let docs: Vec<String> = all
        .iter()
        .map(|m| {
            format!(" `{}.{}`: see [`{}`].", m.class_name, m.method.name, {
                let module = snake(m.class_name);
                format!("{module}::{}", camel(&m.method.name))
            })
        })
        .collect();

    // The enum's `From` impls are generated per struct; TryFrom here.
    let renames = variants.iter().zip(&paths).map(|(v, p)| {
        quote! {
            impl TryFrom<Method> for #p {
                type Error = Method;
                fn try_from(m: Method) -> Result<Self, Method> {
                    match m {
                        Method::#v(inner) => Ok(inner),
                        other => Err(other),
                    }
                }
            }
        }
    });

    quote! {
        /// Any method: one variant per method of the specification, and
        /// [`Unknown`](Method::Unknown) for ids it does not define, kept
        /// byte for byte so that a proxy can forward them.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Method {
            #(#[doc = #docs] #variants(#paths),)*
            /// A method the specification does not define.
            Unknown {
                /// The class id on the wire.
                class_id: u16,
                /// The method id on the wire.
                method_id: u16,
                /// The argument bytes, undecoded.
                arguments: Bytes,
            },
        }

        /// Every method of the specification, ordered by class id, then method id.
        pub const METHODS: &[MethodInfo] = &[#(#paths::INFO),*];

        /// Looks up a method of the specification by its ids.
        pub fn method_info(class_id: u16, method_id: u16) -> Option<&'static MethodInfo> {
            match (class_id, method_id) {
                #((#paths::CLASS_ID, #paths::METHOD_ID) => Some(&#paths::INFO),)*
                _ => None,
            }
        }

        impl Method {
            /// The class and method ids.
            pub fn id(&self) -> MethodId {
                match self {
                    #(Method::#variants(_) => MethodId { class_id: #paths::CLASS_ID, method_id: #paths::METHOD_ID },)*
                    Method::Unknown { class_id, method_id, .. } => MethodId { class_id: *class_id, method_id: *method_id },
                }
            }

            /// What the specification says about this method; `None` for
            /// [`Unknown`](Method::Unknown).
            pub fn info(&self) -> Option<&'static MethodInfo> {
                match self {
                    #(Method::#variants(_) => Some(&#paths::INFO),)*
                    Method::Unknown { .. } => None,
                }
            }

            /// The value of the argument at `index`, in the order of
            /// [`MethodInfo::fields`]; `None` past the end and for
            /// [`Unknown`](Method::Unknown).
            pub fn field(&self, index: usize) -> Option<ArgValue<'_>> {
                match self {
                    #(Method::#variants(m) => m.field(index),)*
                    Method::Unknown { .. } => None,
                }
            }

            pub(crate) fn args_len(&self) -> usize {
                match self {
                    #(Method::#variants(m) => m.args_len(),)*
                    Method::Unknown { arguments, .. } => arguments.len(),
                }
            }

            pub(crate) fn encode_args<B: BufMut>(&self, buf: &mut B) {
                match self {
                    #(Method::#variants(m) => m.encode_args(buf),)*
                    Method::Unknown { arguments, .. } => buf.put_slice(arguments),
                }
            }

            /// Decodes the arguments of a method the specification defines;
            /// `None` when the ids are unknown.
            pub(crate) fn decode_args(
                class_id: u16,
                method_id: u16,
                r: &mut Reader<'_>,
            ) -> Option<Result<Method, Error>> {
                Some(match (class_id, method_id) {
                    #((#paths::CLASS_ID, #paths::METHOD_ID) => #paths::decode_args(r).map(Method::#variants),)*
                    _ => return None,
                })
            }
        }

        #(#renames)*
    }
}

fn properties(class: &RClass<'_>, spec: &Resolved<'_>) -> TokenStream {
    let ident = format_ident!("{}Properties", camel(&class.class.name));
    let class_id = class.class.index;
    let class_id_lit = Literal::u16_unsuffixed(class_id);
    let n = class.properties.len();
    let words = n.div_ceil(15).max(1);
    let names: Vec<Ident> = class
        .properties
        .iter()
        .map(|p| field_ident(&p.name))
        .collect();
    let types: Vec<TokenStream> = class
        .properties
        .iter()
        .map(|p| rust_type(p.primitive))
        .collect();
    let docs: Vec<TokenStream> = class
        .properties
        .iter()
        .map(|p| doc_attrs(field_docs(p, spec)))
        .collect();
    let infos: Vec<TokenStream> = class.properties.iter().map(field_info).collect();
    let withs = class.properties.iter().map(|p| {
        let id = field_ident(&p.name);
        let w = format_ident!("with_{}", id);
        let ty = rust_type(p.primitive);
        let doc = format!(" Sets `{}`.", p.name);
        quote! {
            #[doc = #doc]
            #[must_use]
            pub fn #w(mut self, value: #ty) -> Self {
                self.#id = Some(value);
                self
            }
        }
    });
    // Property i is bit 15 - (i % 15) of word i / 15; bit 0 of a word means
    // another word follows.
    let mut used = vec![0u16; words];
    let mut set_flags = Vec::new();
    let mut decode = Vec::new();
    let mut encode = Vec::new();
    let mut lens = Vec::new();
    let mut arms = Vec::new();
    for (i, p) in class.properties.iter().enumerate() {
        let word = i / 15;
        let bit: u16 = 1 << (15 - (i % 15));
        used[word] |= bit;
        let id = field_ident(&p.name);
        let path = format!("{}.properties.{}", class.class.name, p.name);
        let w = Literal::usize_unsuffixed(word);
        let bitl = Literal::u16_unsuffixed(bit);
        set_flags.push(quote!(if self.#id.is_some() { words[#w] |= #bitl; }));
        let r = read(p.primitive, &path);
        decode.push(quote!(let #id = if words[#w] & #bitl != 0 { Some(#r) } else { None };));
        let wr = match p.primitive {
            Primitive::Octet | Primitive::Short | Primitive::Long | Primitive::LongLong => {
                write(p.primitive, quote!(*v))
            }
            _ => write(p.primitive, quote!(v)),
        };
        encode.push(quote!(if let Some(v) = &self.#id { #wr }));
        lens.push(match fixed_len(p.primitive) {
            Some(k) => {
                let k = Literal::usize_unsuffixed(k);
                quote!(if self.#id.is_some() { len += #k; })
            }
            None => quote!(if let Some(v) = &self.#id { len += v.encoded_len(); }),
        });
        let v = arg_value(p.primitive, quote!(*v));
        let i = Literal::usize_unsuffixed(i);
        arms.push(quote!(#i => self.#id.as_ref().map(|v| #v),));
    }
    let used = used.iter().map(|u| Literal::u16_unsuffixed(*u));
    let path = format!("{}.properties", class.class.name);
    let words_l = Literal::usize_unsuffixed(words);
    let doc = format!(
        " The content properties of class `{}` (class id {class_id}): every property is an \
         `Option`, present when its flag bit is set.",
        class.class.name
    );
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct #ident {
            #(#docs pub #names: Option<#types>,)*
        }

        impl #ident {
            /// The class these properties belong to.
            pub const CLASS_ID: u16 = #class_id_lit;
            /// The properties, in flag order.
            pub const FIELDS: &'static [FieldInfo] = &[#(#infos),*];
            const USED_FLAGS: [u16; #words_l] = [#(#used),*];

            #(#withs)*

            /// The property-flag words (continuation bits included) that
            /// [`encode`](Self::encode) writes.
            pub fn flag_words(&self) -> [u16; #words_l] {
                let mut words = [0; #words_l];
                #(#set_flags)*
                continuation(&mut words);
                words
            }

            /// Length of [`encode`](Self::encode)'s output: the flag words
            /// and the present values.
            pub fn encoded_len(&self) -> usize {
                let mut len = 2 * flag_word_count(&self.flag_words());
                #(#lens)*
                len
            }

            /// Writes the property flags and the present values.
            pub fn encode<B: BufMut>(&self, buf: &mut B) {
                let words = self.flag_words();
                for w in &words[..flag_word_count(&words)] {
                    buf.put_u16(*w);
                }
                #(#encode)*
            }

            pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
                let words: [u16; #words_l] = r.property_flags(#path, Self::USED_FLAGS)?;
                #(#decode)*
                Ok(Self { #(#names),* })
            }

            /// The value of the property at `index` (in [`FIELDS`](Self::FIELDS)
            /// order), `None` when it is absent.
            pub fn get(&self, index: usize) -> Option<ArgValue<'_>> {
                match index {
                    #(#arms)*
                    _ => None,
                }
            }
        }
    }
}

fn properties_enum(spec: &Resolved<'_>) -> TokenStream {
    let with: Vec<&RClass<'_>> = spec
        .classes
        .iter()
        .filter(|c| !c.properties.is_empty())
        .collect();
    let variants: Vec<Ident> = with.iter().map(|c| type_ident(&c.class.name)).collect();
    let types: Vec<Ident> = with
        .iter()
        .map(|c| format_ident!("{}Properties", camel(&c.class.name)))
        .collect();
    let docs: Vec<String> = with
        .iter()
        .map(|c| format!(" Properties of class `{}`.", c.class.name))
        .collect();
    quote! {
        /// The properties of a content header, by class.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Properties {
            #(#[doc = #docs] #variants(#types),)*
            /// A class without content properties in the specification: the
            /// flag words and values, undecoded.
            Unknown(Bytes),
        }

        impl Properties {
            pub(crate) fn decode(class_id: u16, r: &mut Reader<'_>) -> Result<Self, Error> {
                match class_id {
                    #(#types::CLASS_ID => Ok(Properties::#variants(#types::decode(r)?)),)*
                    _ => Ok(Properties::Unknown(r.rest())),
                }
            }

            /// Encoded length of the flag words and values.
            pub fn encoded_len(&self) -> usize {
                match self {
                    #(Properties::#variants(p) => p.encoded_len(),)*
                    Properties::Unknown(raw) => raw.len(),
                }
            }

            /// Writes the flag words and values.
            pub fn encode<B: BufMut>(&self, buf: &mut B) {
                match self {
                    #(Properties::#variants(p) => p.encode(buf),)*
                    Properties::Unknown(raw) => buf.put_slice(raw),
                }
            }

            /// Which properties there are, in flag order; empty for `Unknown`.
            pub fn fields(&self) -> &'static [FieldInfo] {
                match self {
                    #(Properties::#variants(_) => #types::FIELDS,)*
                    Properties::Unknown(_) => &[],
                }
            }

            /// The value of the property at `index`, `None` when absent.
            pub fn get(&self, index: usize) -> Option<ArgValue<'_>> {
                match self {
                    #(Properties::#variants(p) => p.get(index),)*
                    Properties::Unknown(_) => None,
                }
            }
        }

        #(
            impl From<#types> for Properties {
                fn from(p: #types) -> Self {
                    Properties::#variants(p)
                }
            }
        )*
    }
}

fn constants(spec: &Resolved<'_>) -> TokenStream {
    let mut plain = Vec::new();
    let mut codes = Vec::new();
    let mut names = Vec::new();
    let mut kinds = Vec::new();
    for c in &spec.spec.constants {
        let mut d = DocBuilder::new();
        d.documentation(&c.doc);
        let is_reply = c.class.is_some() || c.name.starts_with("reply-");
        let id = format_ident!("{}", screaming(&c.name));
        let value = c.value;
        if is_reply {
            let kind = match c.class.as_deref() {
                Some("soft-error") => " A soft error: the channel is closed.",
                Some("hard-error") => " A hard error: the connection is closed.",
                _ => "",
            };
            d.para(format!("`{}` = {value}.{kind}", c.name));
            let docs = doc_attrs(d.finish());
            let v = Literal::u16_unsuffixed(value as u16);
            codes.push(quote!(#docs pub const #id: ReplyCode = ReplyCode(#v);));
            let n = &c.name;
            names.push(quote!(#v => Some(#n),));
            match c.class.as_deref() {
                Some("soft-error") => kinds.push(quote!(#v => Some(ExceptionKind::Channel),)),
                Some("hard-error") => kinds.push(quote!(#v => Some(ExceptionKind::Connection),)),
                _ => {}
            }
        } else {
            d.para(format!("`{}` = {value}.", c.name));
            let docs = doc_attrs(d.finish());
            let lit = if value <= 255 {
                let v = Literal::u8_unsuffixed(value as u8);
                quote!(u8 = #v)
            } else {
                let v = Literal::u32_unsuffixed(value);
                quote!(u32 = #v)
            };
            plain.push(quote!(#docs pub const #id: #lit;));
        }
    }
    let major = Literal::u8_unsuffixed(spec.spec.major);
    let minor = Literal::u8_unsuffixed(spec.spec.minor);
    let revision = Literal::u8_unsuffixed(spec.spec.revision);
    let port = Literal::u16_unsuffixed(spec.spec.port);
    quote! {
        /// The specification's constants other than reply codes (frame
        /// types, sizes, the frame-end octet), the protocol version and port.
        pub mod constants {
            /// Protocol major version.
            pub const VERSION_MAJOR: u8 = #major;
            /// Protocol minor version.
            pub const VERSION_MINOR: u8 = #minor;
            /// Protocol revision.
            pub const VERSION_REVISION: u8 = #revision;
            /// The IANA port for AMQP.
            pub const PORT: u16 = #port;
            #(#plain)*
        }

        impl ReplyCode {
            #(#codes)*

            /// The specification's name for this code, if it defines one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    #(#names)*
                    _ => None,
                }
            }

            /// Whether the code closes a channel (soft error) or the whole
            /// connection (hard error); `None` for success and unknown codes.
            pub fn exception_kind(self) -> Option<ExceptionKind> {
                match self.0 {
                    #(#kinds)*
                    _ => None,
                }
            }
        }
    }
}

fn domains(spec: &Resolved<'_>) -> TokenStream {
    let items = spec.domains.iter().map(|(d, p)| {
        let mut b = DocBuilder::new();
        b.documentation(&d.doc);
        b.para(format!("Domain `{}`: {} on the wire.", d.name, p.name()));
        b.asserts(&d.asserts);
        let docs = doc_attrs(b.finish());
        let id = type_ident(&d.name);
        let ty = match p {
            Primitive::ShortStr | Primitive::LongStr | Primitive::Table | Primitive::Timestamp => {
                let t = rust_type(*p);
                quote!(crate::#t)
            }
            _ => rust_type(*p),
        };
        quote!(#docs pub type #id = #ty;)
    });
    quote! {
        /// The specification's domains (named argument types), each an alias of
        /// the Rust type of its primitive wire type.
        pub mod domains {
            #(#items)*
        }
    }
}

/// Emits the whole file's items.
pub(crate) fn emit(spec: &Resolved<'_>, file_name: &str, sha256: &str) -> TokenStream {
    let modules = spec.classes.iter().map(|c| {
        let module = Ident::new(&snake(&c.class.name), Span::call_site());
        let mut d = DocBuilder::new();
        d.documentation(&c.class.doc);
        d.para(format!("Class `{}`, id {}.", c.class.name, c.class.index));
        let docs = doc_attrs(d.finish());
        let structs = c.methods.iter().map(|m| method_struct(m, spec));
        quote! {
            #docs
            pub mod #module {
                use super::*;
                #(#structs)*
            }
        }
    });
    let props = spec
        .classes
        .iter()
        .filter(|c| !c.properties.is_empty())
        .map(|c| properties(c, spec));
    let enum_ = method_enum(spec);
    let props_enum = properties_enum(spec);
    let consts = constants(spec);
    let doms = domains(spec);
    let rules = crate::rules::rules(spec.spec);
    quote! {
        use bytes::{BufMut, Bytes};

        use crate::codec::{continuation, flag_word_count, Reader};
        use crate::{
            AmqpType, ArgValue, Error, ExceptionKind, FieldInfo, FieldTable, LongStr,
            MethodId, MethodInfo, MethodType, ReplyCode, RuleElement, RuleInfo, ShortStr,
            Timestamp, Direction,
        };

        /// The file the protocol was generated from.
        pub const SPEC_FILE: &str = #file_name;
        /// The SHA-256 of that file, hex.
        pub const SPEC_SHA256: &str = #sha256;

        #consts
        #doms
        #(#modules)*
        #enum_
        #(#props)*
        #props_enum
        #rules
    }
}
