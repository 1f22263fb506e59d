//! The model and resolution against the real spec files, and generator errors.

use amqp_codegen::{parse, resolve, Direction, Primitive, Stats};

/// A spec file: the extended one ships inside `amqp-protocol`, the
/// original stays in the repository's `spec/`.
fn spec(name: &str) -> String {
    let dir = if name.contains("extended") {
        "amqp-protocol/spec"
    } else {
        "spec"
    };
    std::fs::read_to_string(format!("{}/../{dir}/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("spec")
}

#[test]
fn counts_of_the_extended_spec() {
    let s = spec("amqp0-9-1.extended.xml");
    let out = amqp_codegen::generate(&s, "amqp0-9-1.extended.xml").expect("ok");
    assert_eq!(
        out.stats,
        Stats {
            classes: 7,
            methods: 64,
            method_fields: 141,
            properties: 14,
            domains: 24,
            constants: 25,
        }
    );
    assert_eq!(
        out.stats.to_string(),
        "classes=7 methods=64 method-fields=141 properties=14 domains=24 constants=25"
    );
}

#[test]
fn counts_of_the_plain_spec() {
    let s = spec("amqp0-9-1.xml");
    let out = amqp_codegen::generate(&s, "amqp0-9-1.xml").expect("ok");
    assert_eq!(
        (
            out.stats.classes,
            out.stats.methods,
            out.stats.method_fields
        ),
        (6, 53, 122)
    );
}

#[test]
fn corrections_are_applied() {
    let s = spec("amqp0-9-1.extended.xml");
    let model = parse(&s).expect("parses");
    let r = resolve(&model).expect("resolves");
    let method = |c: &str, m: &str| {
        r.classes
            .iter()
            .find(|k| k.class.name == c)
            .and_then(|k| k.methods.iter().find(|x| x.method.name == m))
            .unwrap_or_else(|| panic!("{c}.{m}"))
            .clone()
    };
    let recover = method("basic", "recover");
    assert!(recover.synchronous);
    assert_eq!(recover.responses, vec![(111, "recover-ok".to_owned())]);
    assert!(method("basic", "recover-ok").is_response);
    assert_eq!(
        method("connection", "update-secret").direction,
        Direction::ClientToServer
    );
    assert_eq!(
        method("connection", "update-secret-ok").direction,
        Direction::ServerToClient
    );
    assert_eq!(
        method("connection", "blocked").direction,
        Direction::ServerToClient
    );
    assert_eq!(
        method("connection", "unblocked").direction,
        Direction::ServerToClient
    );
    assert_eq!(method("confirm", "select").fields[0].name, "no-wait");
    // Not corrected: what the XML already says right.
    assert_eq!(method("basic", "ack").direction, Direction::Both);
    assert_eq!(
        method("basic", "publish").direction,
        Direction::ClientToServer
    );
    assert_eq!(method("basic", "get").responses.len(), 2);
    assert_eq!(method("exchange", "unbind-ok").method.index, 51);
    // Domains resolve to primitives.
    let declare = method("exchange", "declare");
    let ty: Vec<Primitive> = declare.fields.iter().map(|f| f.primitive).collect();
    assert_eq!(ty[0], Primitive::Short);
    assert_eq!(ty[1], Primitive::ShortStr);
    assert_eq!(ty[3..8], [Primitive::Bit; 5]);
    assert_eq!(ty[8], Primitive::Table);
}

#[test]
fn errors_name_the_line_and_element_path() {
    let xml = r#"<amqp major="0" minor="9" revision="1" port="5672">
  <domain name="bit" type="bit"/>
  <class name="c" index="1">
    <method name="m" index="1">
      <chassis name="server" implement="MUST"/>
      <field name="f" domain="nonesuch"/>
    </method>
  </class>
</amqp>"#;
    let e = amqp_codegen::generate(xml, "bad.xml").unwrap_err();
    assert_eq!(e.location.line, 6, "{e}");
    assert_eq!(e.location.path, "amqp/class[c]/method[m]/field[f]");
    assert!(
        e.to_string()
            .contains("unknown domain or type \"nonesuch\""),
        "{e}"
    );

    let unknown_attr = r#"<amqp major="0" minor="9" revision="1" port="5672">
  <class name="c" index="x"/>
</amqp>"#;
    let e = amqp_codegen::generate(unknown_attr, "bad.xml").unwrap_err();
    assert_eq!(
        (e.location.line, e.location.path.as_str()),
        (2, "amqp/class[c]")
    );
    assert!(e.message.contains("index"), "{e}");

    let element = r#"<amqp major="0" minor="9" revision="1" port="5672">
  <class name="c" index="1"><surprise/></class>
</amqp>"#;
    let e = amqp_codegen::generate(element, "bad.xml").unwrap_err();
    assert!(e.message.contains("unexpected element <surprise>"), "{e}");

    let response = r#"<amqp major="0" minor="9" revision="1" port="5672">
  <class name="c" index="1">
    <method name="m" index="1"><chassis name="server" implement="MUST"/><response name="gone"/></method>
  </class>
</amqp>"#;
    let e = amqp_codegen::generate(response, "bad.xml").unwrap_err();
    assert_eq!(e.location.path, "amqp/class[c]/method[m]");
    assert!(e.message.contains("gone"), "{e}");

    let e = amqp_codegen::generate("<amqp major='0'", "bad.xml").unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
}
