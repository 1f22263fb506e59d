//! Every `<rule>` of the specification as data (`RULES`): where it is, its
//! name, the reply code it fails with, its text and its test scenario, for
//! tools that test peers against the rules (a conformance tester), so that
//! they read the rules from the generated code rather than from a second
//! copy of the XML.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Documentation, Rule, Spec};

/// Where a rule sits, as the generated `RuleElement` names it.
#[derive(Clone, Copy)]
enum Element {
    Constant,
    Domain,
    Class,
    Method,
    Field,
    Property,
}

/// The `RULES` table.
pub(crate) fn rules(spec: &Spec) -> TokenStream {
    let codes: Vec<&str> = spec
        .constants
        .iter()
        .filter(|c| c.class.is_some() || c.name.starts_with("reply-"))
        .map(|c| c.name.as_str())
        .collect();
    let mut all = Vec::new();
    let mut add = |element: Element, path: String, doc: &Documentation| {
        for r in &doc.rules {
            all.push(rule(element, &path, r, &codes));
        }
    };
    for c in &spec.constants {
        add(Element::Constant, c.name.clone(), &c.doc);
    }
    for d in &spec.domains {
        add(Element::Domain, d.name.clone(), &d.doc);
    }
    for class in &spec.classes {
        add(Element::Class, class.name.clone(), &class.doc);
        for p in &class.properties {
            add(
                Element::Property,
                format!("{}.{}", class.name, p.name),
                &p.doc,
            );
        }
        for m in &class.methods {
            let method = format!("{}.{}", class.name, m.name);
            add(Element::Method, method.clone(), &m.doc);
            for f in &m.fields {
                add(Element::Field, format!("{method}.{}", f.name), &f.doc);
            }
        }
    }
    let n = proc_macro2::Literal::usize_unsuffixed(all.len());
    quote! {
        /// Every `<rule>` of the specification, in file order (constants,
        /// domains, then each class with its properties, methods and their
        /// fields): where it is, its name, the reply code a peer that
        /// breaks it is closed with, its text and its test scenario.
        pub const RULES: &[RuleInfo; #n] = &[#(#all),*];
    }
}

fn rule(element: Element, path: &str, r: &Rule, codes: &[&str]) -> TokenStream {
    let element = match element {
        Element::Constant => quote!(RuleElement::Constant),
        Element::Domain => quote!(RuleElement::Domain),
        Element::Class => quote!(RuleElement::Class),
        Element::Method => quote!(RuleElement::Method),
        Element::Field => quote!(RuleElement::Field),
        Element::Property => quote!(RuleElement::Property),
    };
    let name = &r.name;
    let on_failure = match &r.on_failure {
        Some(code) => quote!(Some(#code)),
        None => quote!(None),
    };
    let reply_code = match &r.on_failure {
        Some(code) if codes.contains(&code.as_str()) => {
            let id = format_ident!("{}", code.replace('-', "_").to_uppercase());
            quote!(Some(ReplyCode::#id))
        }
        _ => quote!(None),
    };
    let text = r
        .docs
        .iter()
        .filter(|d| d.kind.as_deref() != Some("scenario"))
        .map(|d| normalize(&d.text))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    // A placeholder scenario ("TODO", or nothing) is none.
    let scenario = r
        .docs
        .iter()
        .filter(|d| d.kind.as_deref() == Some("scenario"))
        .map(|d| normalize(&d.text))
        .find(|t| !matches!(t.trim_end_matches('.'), "" | "TODO"));
    let scenario = match scenario {
        Some(s) => quote!(Some(#s)),
        None => quote!(None),
    };
    quote! {
        RuleInfo {
            element: #element,
            path: #path,
            name: #name,
            on_failure: #on_failure,
            reply_code: #reply_code,
            text: #text,
            scenario: #scenario,
        }
    }
}

/// One paragraph per blank-line-separated block, its lines joined.
fn normalize(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}
