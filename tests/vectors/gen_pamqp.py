#!/usr/bin/env python3
"""Test-vector generator: pamqp (pure-Python AMQP 0-9-1 codec) as the oracle.

Run from the repository root:   python3 tests/vectors/gen_pamqp.py
Writes tests/vectors/pamqp.json.  Needs `pip install pamqp` (4.0.1 was used).

Frames are built with pamqp.frame.marshal (pamqp.commands.*, pamqp.header.
ContentHeader, pamqp.body.ContentBody) and tables with pamqp.encode.field_table
(pamqp has no `encode.table`); everything is decoded back with
pamqp.frame.unmarshal / pamqp.decode.field_table and compared with the input,
and the run fails (exit 1) on any difference.

How the JSON values are obtained from pamqp:
* method/property values are the Python values handed to pamqp; strings are
  encoded by pamqp as UTF-8, so their hex is the UTF-8 bytes;
* the tag of each table value is the first byte of
  pamqp.encode.encode_table_value(value) (pamqp picks the smallest integer tag);
* table entries are listed in the order pamqp writes them (it sorts the keys),
  confirmed by decoding the bytes, since the decoded dict keeps wire order;
* decimal [scale, value] and timestamp seconds are read from pamqp's own
  encoding of the value (pamqp.encode.decimal / pamqp.encode.timestamp).
"""

import datetime
import decimal
import importlib.metadata
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pamqp  # noqa: E402
from pamqp import body, commands, decode, encode, frame, header  # noqa: E402

from vectorlib import HERE, Spec, expect, split_frames, write_vectors  # noqa: E402

ORACLE = 'pamqp ' + importlib.metadata.version('pamqp')
SPEC = Spec()
UTC = datetime.timezone.utc

INT_TAGS = set('bBsuIilLU')


# ---------------------------------------------------------------------------
# Python value -> JSON value (using pamqp's own choices for tags/encodings)

def tag_of(v):
    return chr(encode.encode_table_value(v)[0])


def field_json(v):
    tag = tag_of(v)
    if tag == 't':
        return tag, v
    if tag in INT_TAGS:
        return tag, v
    if tag == 'f':
        assert struct.unpack('>f', struct.pack('>f', v))[0] == v, f'{v} not exact in f32'
        return tag, v
    if tag == 'D':
        scale, val = struct.unpack('>BI', encode.decimal(v))
        return tag, [scale, val]
    if tag == 'S':
        return tag, v.encode('utf-8').hex()
    if tag == 'x':
        return tag, bytes(v).hex()
    if tag == 'T':
        return tag, struct.unpack('>Q', encode.timestamp(v))[0]
    if tag == 'F':
        return tag, table_json(v)
    if tag == 'A':
        return tag, [list(field_json(x)) for x in v]
    if tag == 'V':
        return tag, None
    raise ValueError(f'unexpected tag {tag!r}')


def table_json(d):
    # pamqp.encode.field_table writes sorted(value.items()); the order is
    # confirmed against the decoded bytes in check_table_order().
    return [[k, *field_json(v)] for k, v in sorted(d.items())]


def check_table_order(tj, decoded):
    """The decoded dict keeps wire order: compare it (recursively) with tj."""
    expect('table key order', [e[0] for e in tj], list(decoded.keys()))
    for (k, tag, v), dv in zip(tj, decoded.values()):
        if tag == 'F':
            check_table_order(v, dv)
        elif tag == 'A':
            for (etag, ev), dev in zip(v, dv):
                if etag == 'F':
                    check_table_order(ev, dev)


def to_json(amqp_type, v):
    if amqp_type == 'bit':
        assert isinstance(v, bool)
        return v
    if amqp_type in ('octet', 'short', 'long', 'longlong'):
        assert isinstance(v, int) and not isinstance(v, bool)
        return v
    if amqp_type == 'timestamp':
        return struct.unpack('>Q', encode.timestamp(v))[0]
    if amqp_type in ('shortstr', 'longstr'):
        return v.encode('utf-8').hex()
    if amqp_type == 'table':
        return table_json(v)
    raise ValueError(amqp_type)


# ---------------------------------------------------------------------------
# vectors

def pamqp_class(name):
    cls, meth = name.split('.')
    return getattr(getattr(commands, cls.capitalize()),
                   ''.join(p.capitalize() for p in meth.split('-')))


def make_method(name, values):
    """Build the pamqp object from values in XML field order; check the mapping."""
    spec = SPEC.methods[name]
    cls = pamqp_class(name)
    slots = cls.attributes()
    if len(slots) != len(spec['fields']):
        raise ValueError(f'{name}: pamqp has {slots}, XML has {spec["fields"]}')
    for slot, (fname, ftype) in zip(slots, spec['fields']):
        if cls.amqp_type(slot) != ftype:
            raise ValueError(f'{name}.{fname}: pamqp type {cls.amqp_type(slot)} != XML {ftype}')
    if len(values) != len(slots):
        raise ValueError(f'{name}: {len(values)} values for {len(slots)} fields')
    obj = cls(**dict(zip(slots, values)))
    assert (cls.frame_id, cls.index & 0xFFFF) == (spec['method_id'], spec['method_id'])
    assert cls.index >> 16 == spec['class_id']
    return obj


def method_obj(name, values):
    spec = SPEC.methods[name]
    return {
        'class_id': spec['class_id'], 'method_id': spec['method_id'], 'name': name,
        'fields': [[fname, to_json(ftype, v)] for (fname, ftype), v in zip(spec['fields'], values)],
    }


def check_method_decoded(name, values, decoded):
    spec = SPEC.methods[name]
    expect(f'{name} decoded class', pamqp_class(name), type(decoded))
    for slot, (fname, ftype), v in zip(decoded.attributes(), spec['fields'], values):
        got = getattr(decoded, slot)
        expect(f'{name}.{fname}', v, got)
        if ftype == 'table':
            check_table_order(to_json('table', v), got)


def method_vector(ch, name, values, desc):
    obj = make_method(name, values)
    raw = frame.marshal(obj, ch)
    used, got_ch, decoded = frame.unmarshal(raw)
    expect('consumed', len(raw), used)
    expect('channel', ch, got_ch)
    check_method_decoded(name, values, decoded)
    ftype, fch, payload = split_frames(raw)[0]
    expect('frame type', 1, ftype)
    return {'oracle': ORACLE, 'kind': 'method', 'desc': desc, 'channel': ch,
            **method_obj(name, values), 'frames': raw.hex()}


PROP_SLOTS = commands.Basic.Properties.attributes()


def make_props(props):
    """props: list of (xml_property_name, python value), XML order."""
    xml_names = [n for n, _ in SPEC.properties]
    kwargs = {}
    for n, v in props:
        kwargs[PROP_SLOTS[xml_names.index(n)]] = v
    return commands.Basic.Properties(**kwargs)


def header_obj(props, body_size):
    types = dict(SPEC.properties)
    order = [n for n, _ in SPEC.properties]
    props = sorted(props, key=lambda p: order.index(p[0]))
    return {'class_id': 60, 'weight': 0, 'body_size': body_size,
            'properties': [[n, to_json(types[n], v)] for n, v in props]}


def check_header_decoded(props, body_size, decoded):
    expect('header type', header.ContentHeader, type(decoded))
    expect('class_id', 60, decoded.class_id)
    expect('weight', 0, decoded.weight)
    expect('body_size', body_size, decoded.body_size)
    xml_names = [n for n, _ in SPEC.properties]
    given = dict(props)
    for slot, n in zip(PROP_SLOTS, xml_names):
        got = getattr(decoded.properties, slot)
        if n in given:
            expect(f'property {n}', given[n], got)
            if n == 'headers':
                check_table_order(table_json(given[n]), got)
        elif n == 'reserved':
            expect(f'absent property {n}', '', got)  # pamqp's default is ''
        else:
            expect(f'absent property {n}', None, got)


def header_vector(ch, props, body_size, desc):
    h = header.ContentHeader(0, body_size, make_props(props))
    raw = frame.marshal(h, ch)
    used, got_ch, decoded = frame.unmarshal(raw)
    expect('consumed', len(raw), used)
    expect('channel', ch, got_ch)
    check_header_decoded(props, body_size, decoded)
    return {'oracle': ORACLE, 'kind': 'header', 'desc': desc, 'channel': ch,
            **header_obj(props, body_size), 'frames': raw.hex()}


def content_vector(ch, name, values, props, payload, frame_max, desc):
    # pamqp has no splitter: the body is cut into frame_max - 8 byte pieces here
    # and each piece is marshalled by pamqp as its own body frame.
    step = frame_max - 8
    pieces = [payload[i:i + step] for i in range(0, len(payload), step)]
    raw = (frame.marshal(make_method(name, values), ch)
           + frame.marshal(header.ContentHeader(0, len(payload), make_props(props)), ch)
           + b''.join(frame.marshal(body.ContentBody(p), ch) for p in pieces))
    # decode the whole sequence back with pamqp
    rest, decoded = raw, []
    while rest:
        used, got_ch, obj = frame.unmarshal(rest)
        expect('channel', ch, got_ch)
        decoded.append(obj)
        rest = rest[used:]
    check_method_decoded(name, values, decoded[0])
    check_header_decoded(props, len(payload), decoded[1])
    bodies = decoded[2:]
    for b in bodies:
        expect('body frame type', body.ContentBody, type(b))
        assert 0 < len(b.value) <= step
    expect('body', payload, b''.join(b.value for b in bodies))
    return {'oracle': ORACLE, 'kind': 'content', 'desc': desc, 'channel': ch,
            'method': {'oracle': ORACLE, 'kind': 'method', 'desc': desc, 'channel': ch,
                       **method_obj(name, values)},
            'header': {'oracle': ORACLE, 'kind': 'header', 'desc': desc, 'channel': ch,
                       **header_obj(props, len(payload))},
            'body': payload.hex(), 'frame_max': frame_max, 'body_frames': len(bodies),
            'frames': raw.hex()}


def table_vector(d, desc):
    raw = encode.field_table(d)
    used, decoded = decode.field_table(raw)
    expect('consumed', len(raw), used)
    expect('table', d, decoded)
    tj = table_json(d)
    check_table_order(tj, decoded)
    return {'oracle': ORACLE, 'kind': 'table', 'desc': desc, 'bytes': raw.hex(), 'value': tj}


# ---------------------------------------------------------------------------
# inputs

TS = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)   # 1700000000
TS_HI = datetime.datetime(2100, 1, 1, tzinfo=UTC)               # 4102444800

SERVER_PROPS = {
    'capabilities': {'publisher_confirms': True, 'exchange_exchange_bindings': True,
                     'basic.nack': True, 'consumer_cancel_notify': True,
                     'connection.blocked': True, 'authentication_failure_close': True,
                     'direct_reply_to': False},
    'cluster_name': 'rabbit@pamqp',
    'platform': 'Erlang/OTP 25',
    'product': 'RabbitMQ',
    'version': '3.10.8',
}
CLIENT_PROPS = {
    'product': 'pamqp-vectors', 'version': '4.0.1', 'platform': 'Python 3',
    'capabilities': {'basic.nack': True, 'publisher_confirms': True,
                     'consumer_cancel_notify': True, 'connection.blocked': False},
    'information': 'See README',
}

METHODS = [
    # (channel, name, values in XML field order, desc)
    (0, 'connection.start', [0, 9, SERVER_PROPS, 'PLAIN AMQPLAIN', 'en_US'],
     'connection.start 0-9 with capabilities'),
    (0, 'connection.start', [0x7f, 0x80, {'n': -2}, 'EXTERNAL', 'de_DE'],
     'connection.start with high-bit version-minor'),
    (0, 'connection.start-ok', [CLIENT_PROPS, 'PLAIN', '\x00guest\x00guest', 'en_US'],
     'connection.start-ok PLAIN'),
    (0, 'connection.secure', ['challenge-\u00e9\u65e5'], 'connection.secure (UTF-8 challenge)'),
    (0, 'connection.secure-ok', ['response\x00\x01'], 'connection.secure-ok'),
    (0, 'connection.tune', [0x1234, 0x89abcdef, 0xfedc], 'connection.tune high-byte values'),
    (0, 'connection.tune-ok', [0xffff, 0xffffffff, 0xffff], 'connection.tune-ok all max'),
    (0, 'connection.tune-ok', [2047, 131072, 60], 'connection.tune-ok typical'),
    (0, 'connection.open', ['/prod', '', False], 'connection.open'),
    (0, 'connection.open-ok', [''], 'connection.open-ok'),
    (0, 'connection.close', [0x0140, 'CONNECTION_FORCED - shutdown', 0x0a0b, 0x3c28],
     'connection.close'),
    (0, 'connection.close-ok', [], 'connection.close-ok'),
    (0, 'connection.blocked', ['low on disk'], 'connection.blocked'),
    (0, 'connection.unblocked', [], 'connection.unblocked'),
    (0, 'connection.update-secret', ['new.jwt.token', 'refresh \u00e9'], 'connection.update-secret'),
    (0, 'connection.update-secret-ok', [], 'connection.update-secret-ok'),
    # pamqp's only accepted (and default) value for these reserved fields is the
    # one-character string '0' (byte 0x30), not an empty string.
    (0x0102, 'channel.open', ['0'], "channel.open (pamqp writes reserved-1 as '0')"),
    (0x0102, 'channel.open-ok', ['0'], "channel.open-ok (pamqp writes reserved-1 as '0')"),
    (0x0203, 'channel.flow', [True], 'channel.flow active=1'),
    (0x0203, 'channel.flow-ok', [True], 'channel.flow-ok active=1'),
    (0x0203, 'channel.flow-ok', [False], 'channel.flow-ok active=0'),
    (0x0304, 'channel.close', [0x0196, 'PRECONDITION_FAILED', 0x8899, 0xaabb], 'channel.close'),
    (0x0304, 'channel.close-ok', [], 'channel.close-ok'),
    (0x1001, 'exchange.declare',
     [0, 'px.topic', 'topic', False, True, False, True, True, {'alternate-exchange': 'ae'}],
     'exchange.declare passive=0 durable=1 auto-delete=0 internal=1 no-wait=1'),
    (0x1001, 'exchange.declare',
     [0, 'px.hdr', 'headers', True, False, True, False, False, {}],
     'exchange.declare passive=1 auto-delete=1, empty arguments'),
    (0x1001, 'exchange.declare-ok', [], 'exchange.declare-ok'),
    (0x1002, 'exchange.delete', [0, 'px.old', True, False], 'exchange.delete if-unused=1 no-wait=0'),
    (0x1002, 'exchange.delete-ok', [], 'exchange.delete-ok'),
    (0x1003, 'exchange.bind', [0, 'dst', 'src', 'k.#', False, {'x-match': 'any', 'n': 70000}],
     'exchange.bind'),
    (0x1003, 'exchange.bind-ok', [], 'exchange.bind-ok'),
    (0x1004, 'exchange.unbind', [0, 'dst', 'src', 'k.#', True, {'on': True}], 'exchange.unbind'),
    (0x1004, 'exchange.unbind-ok', [], 'exchange.unbind-ok (method id 51)'),
    (0x2001, 'queue.declare',
     [0, 'pq.orders', True, False, True, False, True,
      {'x-message-ttl': 60000, 'x-max-length': 0x12345678, 'x-queue-type': 'quorum'}],
     'queue.declare passive=1 durable=0 exclusive=1 auto-delete=0 no-wait=1'),
    (0x2001, 'queue.declare-ok', ['pq.orders', 0x89abcdef, 0x01020304], 'queue.declare-ok'),
    (0x2002, 'queue.bind', [0, 'pq', 'amq.headers', 'rk', True, {'x-match': 'all', 'a': 'b'}],
     'queue.bind'),
    (0x2002, 'queue.bind-ok', [], 'queue.bind-ok'),
    (0x2003, 'queue.unbind', [0, 'pq', 'amq.headers', 'rk', {'x-match': 'all'}], 'queue.unbind'),
    (0x2003, 'queue.unbind-ok', [], 'queue.unbind-ok'),
    (0x2004, 'queue.purge', [0, 'pq.purge', True], 'queue.purge no-wait=1'),
    (0x2004, 'queue.purge-ok', [0xfedcba98], 'queue.purge-ok'),
    (0x2005, 'queue.delete', [0, 'pq.del', False, True, True], 'queue.delete if-unused=0 if-empty=1 no-wait=1'),
    (0x2005, 'queue.delete-ok', [0x7fffffff], 'queue.delete-ok'),
    (0x3001, 'basic.qos', [0x89abcdef, 0x1234, True], 'basic.qos global=1'),
    (0x3001, 'basic.qos-ok', [], 'basic.qos-ok'),
    (0x3002, 'basic.consume',
     [0, 'pq.orders', 'pctag', False, True, False, True, {'x-priority': -5}],
     'basic.consume no-local=0 no-ack=1 exclusive=0 no-wait=1'),
    (0x3002, 'basic.consume-ok', ['amq.ctag-pamqp'], 'basic.consume-ok'),
    (0x3003, 'basic.cancel', ['pctag', True], 'basic.cancel no-wait=1'),
    (0x3003, 'basic.cancel-ok', ['pctag'], 'basic.cancel-ok'),
    (0x3004, 'basic.publish', [0, 'amq.topic', 'a.b.c', True, True], 'basic.publish mandatory=1 immediate=1'),
    (0x3004, 'basic.return', [312, 'NO_ROUTE', 'amq.topic', 'a.b.c'], 'basic.return'),
    (0x3005, 'basic.deliver', ['pctag', 0x0123456789abcdef, True, 'amq.topic', 'a.b.c'],
     'basic.deliver redelivered=1'),
    (0x3006, 'basic.get', [0, 'pq.get', True], 'basic.get no-ack=1'),
    (0x3006, 'basic.get-ok', [0x0123456789abcdef, True, 'ex', 'rk', 0x89abcdef], 'basic.get-ok'),
    (0x3006, 'basic.get-empty', [''], 'basic.get-empty'),
    (0x3007, 'basic.ack', [0x0123456789abcdef, True], 'basic.ack multiple=1'),
    (0x3007, 'basic.ack', [0x7fffffffffffffff, False], 'basic.ack delivery-tag 2^63-1'),
    (0x3008, 'basic.reject', [0x0123456789abcdef, True], 'basic.reject requeue=1'),
    (0x3009, 'basic.recover-async', [True], 'basic.recover-async requeue=1'),
    (0x3009, 'basic.recover', [True], 'basic.recover requeue=1'),
    (0x3009, 'basic.recover-ok', [], 'basic.recover-ok'),
    (0x300a, 'basic.nack', [0x0123456789abcdef, True, False], 'basic.nack multiple=1 requeue=0'),
    (0x300a, 'basic.nack', [0xfedcba98, True, True], 'basic.nack multiple=1 requeue=1'),
    (0x4001, 'confirm.select', [True], 'confirm.select nowait=1'),
    (0x4001, 'confirm.select-ok', [], 'confirm.select-ok'),
    (0x5001, 'tx.select', [], 'tx.select'),
    (0x5001, 'tx.select-ok', [], 'tx.select-ok'),
    (0x5002, 'tx.commit', [], 'tx.commit'),
    (0x5002, 'tx.commit-ok', [], 'tx.commit-ok'),
    (0x5003, 'tx.rollback', [], 'tx.rollback'),
    (0x5003, 'tx.rollback-ok', [], 'tx.rollback-ok'),
]

# pamqp cannot express the 14th property (reserved / cluster-id): Basic.Properties
# validates cluster_id == '' and marshal() skips empty values.
PROPS_13 = [
    ('content-type', 'application/octet-stream'),
    ('content-encoding', 'identity'),
    ('headers', {'x-a': 'b', 'x-n': -3, 'x-big': 0x0123456789abcdef, 'x-f': 1.5,
                 'x-nest': {'k': True}, 'x-list': [1, 'two']}),
    ('delivery-mode', 2),
    ('priority', 7),
    ('correlation-id', 'corr-\u00e9'),
    ('reply-to', 'reply.queue'),
    ('expiration', '1000'),
    ('message-id', 'id-42'),
    ('timestamp', TS),
    ('type', 'evt.type'),
    ('user-id', 'guest'),
    ('app-id', 'pamqp-vectors'),
]

HEADERS = [
    # (channel, props, body_size, desc)
    (0x0a0b, PROPS_13, 0x0123456789ab,
     '13 properties (all but reserved/cluster-id: pamqp cannot set it), body-size > 2^32'),
    (1, PROPS_13, 12, '13 properties, small body-size'),
    (2, [('delivery-mode', 1)], 5, 'only delivery-mode'),
    (3, [('headers', {'b': 2, 'a': 'x'})], 1, 'only headers (pamqp sorts the keys)'),
    (4, [('timestamp', TS_HI), ('app-id', 'a')], 0x100000000, 'timestamp and app-id, body-size 2^32'),
    (5, [], 0, 'no properties, body-size 0'),
]


def body_bytes(n):
    return bytes((i * 13 + 5) % 256 for i in range(n))


CONTENTS = [
    # (channel, method name, values, props, body, frame_max, desc)
    (0x3004, 'basic.publish', [0, 'amq.direct', 'rk', True, False],
     [('content-type', 'text/plain'), ('delivery-mode', 2)], body_bytes(50), 32,
     'basic.publish + header + 50-byte body in 3 frames (frame_max 32)'),
    (0x3005, 'basic.deliver', ['pctag', 0x0123456789abcdef, False, 'ex', 'rk'],
     PROPS_13, body_bytes(33), 19,
     'basic.deliver + 13 properties + 33-byte body in 3 frames (frame_max 19)'),
    (0x3006, 'basic.get-ok', [7, True, 'ex', 'rk', 3],
     [('message-id', 'm1')], body_bytes(8184), 4096,
     'basic.get-ok + 8184-byte body in exactly 2 full frames (frame_max 4096)'),
]

TABLES = [
    ({}, 'empty table'),
    ({'yes': True, 'no': False}, 't: both booleans (keys written sorted)'),
    ({'b-min': -128, 'b-max': 127, 'b-neg': -1, 'b-zero': 0}, 'b: ints in -128..127'),
    ({'s-min': -32768, 's-max': 32767, 's-255': 255, 's-neg': -129}, 's: ints needing 16 signed bits'),
    ({'u-max': 65535, 'u-min': 32768}, 'u: ints 32768..65535'),
    ({'I-min': -2147483648, 'I-max': 2147483647, 'I-neg': -32769, 'I-pos': 65536}, 'I: 32-bit signed'),
    ({'i-max': 4294967295, 'i-min': 2147483648}, 'i: 2^31..2^32-1'),
    ({'l-min': -9223372036854775808, 'l-max': 9223372036854775807,
      'l-neg': -2147483649, 'l-pos': 4294967296}, 'l: 64-bit signed'),
    ({'f-a': 1.5, 'f-b': -0.25, 'f-c': 1024.125}, 'f: floats exact in f32 (pamqp writes Python floats as f)'),
    ({'D-pos': decimal.Decimal('123.45'), 'D-neg': decimal.Decimal('-12.345'),
      'D-zero': decimal.Decimal('0'), 'D-int': decimal.Decimal('1E+3')},
     'D: decimals (negative value as unsigned wire u32)'),
    ({'T-a': TS, 'T-b': TS_HI}, 'T: timestamps'),
    ({'S-ascii': 'hello', 'S-empty': '', 'S-utf8': 'caf\u00e9 \u65e5\u672c', 'S-long': 'x' * 300},
     'S: long strings (pamqp only writes UTF-8)'),
    ({'x-bin': bytearray(b'\x00\x01\xfe\xff\x80'), 'x-empty': bytearray()}, 'x: byte arrays incl. non-UTF-8'),
    ({'nothing': None}, 'V: void'),
    ({'arr': [1, -200, 40000, 3000000000, 2 ** 40, 'a', True, False, None, 0.5,
              decimal.Decimal('1.5'), TS, bytearray(b'\xde\xad'), {'k': 'v'}, [], [1, [2]]],
      'empty-arr': []},
     'A: array of mixed element types, nested arrays, empty array'),
    ({'outer': {'inner': {'deep': 42}, 's': 'x', 'empty': {}}}, 'F: nested tables (3 levels, incl. empty)'),
    ({'t': True, 'b': -7, 's': -1000, 'u': 65535, 'I': -100000, 'i': 4294967295, 'l': -2 ** 40,
      'f': -1.75, 'D': decimal.Decimal('31.4159'), 'S': 'str', 'x': bytearray(b'\x01\x02\x03'),
      'A': [7, 's'], 'T': TS, 'F': {'n': None}, 'V': None},
     'every tag pamqp writes, in one table'),
]


def main():
    vectors = []
    methods = [method_vector(*m) for m in METHODS]
    headers = [header_vector(*h) for h in HEADERS]
    contents = [content_vector(*c) for c in CONTENTS]
    tables = [table_vector(*t) for t in TABLES]
    vectors = methods + headers + contents + tables
    covered = {v['name'] for v in methods}
    missing = sorted(set(SPEC.methods) - covered)
    if missing:
        raise SystemExit(f'methods not covered: {missing}')
    out = os.path.join(HERE, 'pamqp.json')
    write_vectors(out, vectors)
    print(f'wrote {os.path.basename(out)}: {len(methods)} method, {len(headers)} header, '
          f'{len(contents)} content, {len(tables)} table vectors; method coverage '
          f'{len(covered)}/{len(SPEC.methods)} ({ORACLE}; pamqp.__version__ says {pamqp.__version__})')


if __name__ == '__main__':
    main()
