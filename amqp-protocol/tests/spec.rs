//! The generated protocol against the specification's counts and metadata.

use std::collections::BTreeSet;

use amqp_protocol::{
    basic, channel, confirm, connection, constants, method_info, AmqpType, BasicProperties,
    Direction, ExceptionKind, MethodId, MethodType, ReplyCode, METHODS, SPEC_FILE, SPEC_SHA256,
};

#[test]
fn counts_match_the_extended_spec() {
    let classes: BTreeSet<u16> = METHODS.iter().map(|m| m.class_id).collect();
    assert_eq!(classes.len(), 7);
    assert_eq!(
        classes.into_iter().collect::<Vec<_>>(),
        [10, 20, 40, 50, 60, 85, 90]
    );
    assert_eq!(METHODS.len(), 64);
    assert_eq!(METHODS.iter().map(|m| m.fields.len()).sum::<usize>(), 141);
    assert_eq!(BasicProperties::FIELDS.len(), 14);
    assert_eq!(SPEC_FILE, "amqp0-9-1.extended.xml");
    assert_eq!(
        SPEC_SHA256,
        "3d25097e4f9031b1a2898afa44188874d89ab84d0c1718729bec920cc149fc5f"
    );
}

#[test]
fn methods_are_sorted_and_looked_up_by_id() {
    for pair in METHODS.windows(2) {
        assert!(pair[0].id() < pair[1].id());
    }
    for m in METHODS {
        assert_eq!(method_info(m.class_id, m.method_id), Some(m));
        for r in m.responses {
            let reply = method_info(r.class_id, r.method_id).expect("reply exists");
            assert!(reply.is_response, "{} answers {}", reply.name, m.name);
        }
    }
    assert_eq!(method_info(60, 99), None);
}

#[test]
fn associated_constants() {
    assert_eq!(
        (basic::Publish::CLASS_ID, basic::Publish::METHOD_ID),
        (60, 40)
    );
    const { assert!(basic::Publish::HAS_CONTENT && !basic::Publish::SYNCHRONOUS) };
    assert_eq!(basic::Publish::DIRECTION, Direction::ClientToServer);
    assert_eq!(basic::Deliver::DIRECTION, Direction::ServerToClient);
    assert_eq!(basic::Ack::DIRECTION, Direction::Both);
    assert_eq!(
        basic::Get::RESPONSES,
        [
            MethodId {
                class_id: 60,
                method_id: 71
            },
            MethodId {
                class_id: 60,
                method_id: 72
            }
        ]
    );
    const { assert!(basic::GetOk::IS_RESPONSE && basic::GetEmpty::IS_RESPONSE) };
    const { assert!(!basic::Get::IS_RESPONSE) };
    // The corrections table.
    const { assert!(basic::Recover::SYNCHRONOUS) };
    assert_eq!(
        basic::Recover::RESPONSES,
        [MethodId {
            class_id: 60,
            method_id: 111
        }]
    );
    assert_eq!(
        connection::UpdateSecret::DIRECTION,
        Direction::ClientToServer
    );
    assert_eq!(connection::Blocked::DIRECTION, Direction::ServerToClient);
    assert_eq!(connection::Unblocked::DIRECTION, Direction::ServerToClient);
    assert_eq!(confirm::Select::INFO.fields[0].name, "no-wait");
    let _: bool = confirm::Select::default().no_wait;
    const { assert!(channel::FlowOk::IS_RESPONSE) };
    assert_eq!(<basic::Qos as MethodType>::METHOD.name, "basic.qos");
    let reserved: Vec<_> = basic::Publish::INFO
        .fields
        .iter()
        .filter(|f| f.reserved)
        .collect();
    assert_eq!(reserved.len(), 1);
    assert_eq!(reserved[0].ty, AmqpType::Short);
}

#[test]
fn constants_and_reply_codes() {
    assert_eq!(constants::FRAME_METHOD, 1);
    assert_eq!(constants::FRAME_HEARTBEAT, 8);
    assert_eq!(constants::FRAME_END, 0xCE);
    assert_eq!(constants::FRAME_MIN_SIZE, 4096);
    assert_eq!(constants::PORT, 5672);
    assert_eq!(ReplyCode::NO_ROUTE, ReplyCode(312));
    assert_eq!(
        ReplyCode::NOT_FOUND.exception_kind(),
        Some(ExceptionKind::Channel)
    );
    assert_eq!(
        ReplyCode::FRAME_ERROR.exception_kind(),
        Some(ExceptionKind::Connection)
    );
    assert_eq!(ReplyCode::REPLY_SUCCESS.exception_kind(), None);
    assert_eq!(ReplyCode(999).name(), None);
    assert_eq!(ReplyCode(404).to_string(), "404 (not-found)");
}

/// Every `<rule>` of the shipped XML is in `RULES` (counted in the file
/// itself, not through the generator), each with its reply code when it
/// names one, and no placeholder scenario.
#[test]
fn every_rule_of_the_specification_as_data() {
    use amqp_protocol::{ReplyCode, RuleElement, RULES};
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/amqp0-9-1.extended.xml"
    ))
    .expect("the shipped specification");
    assert_eq!(RULES.len(), xml.matches("<rule ").count());
    assert_eq!(RULES.len(), 139);
    for r in RULES {
        assert!(!r.name.is_empty() && !r.path.is_empty(), "{r:?}");
        if r.on_failure.is_some() {
            assert!(
                r.reply_code.is_some(),
                "{} {}: unknown code {:?}",
                r.path,
                r.name,
                r.on_failure
            );
        }
        assert!(r.scenario.is_none_or(|s| !s.starts_with("TODO")), "{r:?}");
    }
    let reserved = RULES
        .iter()
        .find(|r| r.path == "exchange.declare.exchange" && r.name == "reserved")
        .expect("exchange.declare's reserved-name rule");
    assert_eq!(reserved.element, RuleElement::Field);
    assert_eq!(reserved.reply_code, Some(ReplyCode::ACCESS_REFUSED));
    assert!(
        reserved.text.contains("\"amq.\" are reserved"),
        "{}",
        reserved.text
    );
    assert!(reserved.scenario.is_some());
}
