#!/usr/bin/env python3
"""Test-vector generator: pika (pika.spec / pika.frame / pika.data) as the oracle.

Run from the repository root:   python3 tests/vectors/gen_pika.py
Writes tests/vectors/pika.json.  Needs `pip install pika` (1.4.4 was used).

pika adds what pamqp cannot do: the 14th basic property (cluster-id, the XML's
`reserved`), tables whose keys are written in insertion order (not sorted),
binary (non-UTF-8) long strings in methods, and a third encoder for all 64
methods.  Frames are built with pika.frame.Method/Header/Body.marshal() and
tables with pika.data.encode_table; everything is decoded back with
pika.frame.decode_frame / pika.data.decode_table and compared, and the run
fails (exit 1) on any difference.

pika quirks handled here (see README.md):
* decoded long strings in methods come back as bytes, short strings as str
  (or bytes when not UTF-8);
* pika.frame.decode_frame cannot decode connection.update-secret (it calls
  Connection.UpdateSecret() without its two required arguments), and
  Connection.UpdateSecret.decode stores new-secret in the attribute
  `mechanisms`; that one frame is therefore decoded by calling
  Connection.UpdateSecret(None, None).decode(payload, 4) directly and
  new-secret is read from `mechanisms`;
* pika cannot encode floats in tables (and truncates f/d when decoding), so
  no float is used here; its only integer tags are I and l.
"""

import datetime
import decimal
import importlib.metadata
import inspect
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pika import data, frame, spec  # noqa: E402
from pika.compat import as_bytes  # noqa: E402

from vectorlib import HERE, Spec, expect, split_frames, write_vectors  # noqa: E402

ORACLE = 'pika ' + importlib.metadata.version('pika')
SPEC = Spec()
UTC = datetime.timezone.utc


# ---------------------------------------------------------------------------
# Python value -> JSON value, using pika's own encoding for tags etc.

def encoded_value(v):
    pieces = []
    data.encode_value(pieces, v)
    return b''.join(pieces)


def field_json(v):
    raw = encoded_value(v)
    tag = chr(raw[0])
    if tag == 't':
        return tag, v
    if tag in 'Il':
        return tag, v
    if tag == 'D':
        _, scale, val = struct.unpack('>cBI', raw)
        return tag, [scale, val]
    if tag == 'S':
        return tag, as_bytes(v).hex()
    if tag == 'x':
        return tag, bytes(v).hex()
    if tag == 'T':
        return tag, struct.unpack('>cQ', raw)[1]
    if tag == 'F':
        return tag, table_json(v)
    if tag == 'A':
        return tag, [list(field_json(x)) for x in v]
    if tag == 'V':
        return tag, None
    raise ValueError(f'unexpected tag {tag!r}')


def table_json(d):
    # pika.data.encode_table writes table.items() in insertion order; checked
    # against the decoded bytes in check_table_order().
    return [[k, *field_json(v)] for k, v in d.items()]


def check_table_order(tj, decoded):
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
    if amqp_type in ('octet', 'short', 'long', 'longlong', 'timestamp'):
        assert isinstance(v, int) and not isinstance(v, bool)
        return v
    if amqp_type in ('shortstr', 'longstr'):
        return as_bytes(v).hex()
    if amqp_type == 'table':
        return table_json(v)
    raise ValueError(amqp_type)


def expected_decoded(amqp_type, v):
    """What pika's decoder gives back for a value it encoded."""
    if amqp_type == 'longstr':
        return as_bytes(v)
    if amqp_type == 'shortstr':
        b = as_bytes(v)
        try:
            return b.decode('utf-8')
        except UnicodeDecodeError:
            return b
    return v


# ---------------------------------------------------------------------------
# vectors

def pika_class(name):
    cls, meth = name.split('.')
    return getattr(getattr(spec, cls.capitalize()),
                   ''.join(p.capitalize() for p in meth.split('-')))


def pika_args(cls):
    return list(inspect.signature(cls.__init__).parameters)[1:]


def make_method(name, values):
    s = SPEC.methods[name]
    cls = pika_class(name)
    args = pika_args(cls)
    if len(args) != len(s['fields']) or len(values) != len(args):
        raise ValueError(f'{name}: pika args {args}, XML {s["fields"]}, {len(values)} values')
    assert cls.INDEX == (s['class_id'] << 16 | s['method_id'])
    return cls(*values)


def method_obj(name, values):
    s = SPEC.methods[name]
    return {'class_id': s['class_id'], 'method_id': s['method_id'], 'name': name,
            'fields': [[fn, to_json(ft, v)] for (fn, ft), v in zip(s['fields'], values)]}


def check_method_decoded(name, values, decoded):
    s = SPEC.methods[name]
    expect(f'{name} class', pika_class(name), type(decoded))
    for arg, (fn, ft), v in zip(pika_args(type(decoded)), s['fields'], values):
        if name == 'connection.update-secret' and arg == 'new_secret':
            arg = 'mechanisms'  # pika bug: decoded into the wrong attribute
        got = getattr(decoded, arg)
        expect(f'{name}.{fn}', expected_decoded(ft, v), got)
        if ft == 'table':
            check_table_order(to_json('table', v), got)


def decode_all(raw):
    out = []
    while raw:
        used, fr = frame.decode_frame(raw)
        if not used:
            raise ValueError('pika could not decode a frame')
        out.append(fr)
        raw = raw[used:]
    return out


def method_vector(ch, name, values, desc):
    raw = frame.Method(ch, make_method(name, values)).marshal()
    if name == 'connection.update-secret':
        [(ftype, fch, payload)] = split_frames(raw)
        expect('frame type', 1, ftype)
        expect('channel', ch, fch)
        expect('method index', spec.Connection.UpdateSecret.INDEX, struct.unpack('>I', payload[:4])[0])
        check_method_decoded(name, values, spec.Connection.UpdateSecret(None, None).decode(payload, 4))
    else:
        [fr] = decode_all(raw)
        expect('channel', ch, fr.channel_number)
        check_method_decoded(name, values, fr.method)
    return {'oracle': ORACLE, 'kind': 'method', 'desc': desc, 'channel': ch,
            **method_obj(name, values), 'frames': raw.hex()}


PROP_ARGS = pika_args(spec.BasicProperties)  # same order as the XML


def make_props(props):
    names = [n for n, _ in SPEC.properties]
    return spec.BasicProperties(**{PROP_ARGS[names.index(n)]: v for n, v in props})


def header_obj(props, body_size):
    types = dict(SPEC.properties)
    order = [n for n, _ in SPEC.properties]
    props = sorted(props, key=lambda p: order.index(p[0]))
    return {'class_id': 60, 'weight': 0, 'body_size': body_size,
            'properties': [[n, to_json(types[n], v)] for n, v in props]}


def check_header_decoded(ch, props, body_size, fr):
    expect('frame class', frame.Header, type(fr))
    expect('channel', ch, fr.channel_number)
    expect('body_size', body_size, fr.body_size)
    given = dict(props)
    types = dict(SPEC.properties)
    for arg, (n, _) in zip(PROP_ARGS, SPEC.properties):
        got = getattr(fr.properties, arg)
        expect(f'property {n}', expected_decoded(types[n], given[n]) if n in given else None, got)
        if n == 'headers' and n in given:
            check_table_order(table_json(given[n]), got)


def header_vector(ch, props, body_size, desc):
    raw = frame.Header(ch, body_size, make_props(props)).marshal()
    [fr] = decode_all(raw)
    check_header_decoded(ch, props, body_size, fr)
    return {'oracle': ORACLE, 'kind': 'header', 'desc': desc, 'channel': ch,
            **header_obj(props, body_size), 'frames': raw.hex()}


def content_vector(ch, name, values, props, payload, frame_max, desc):
    # The body is cut into frame_max - 8 byte pieces here (pika does the same
    # split inside its connection code), each marshalled by pika.frame.Body.
    step = frame_max - 8
    pieces = [payload[i:i + step] for i in range(0, len(payload), step)]
    raw = (frame.Method(ch, make_method(name, values)).marshal()
           + frame.Header(ch, len(payload), make_props(props)).marshal()
           + b''.join(frame.Body(ch, p).marshal() for p in pieces))
    frs = decode_all(raw)
    check_method_decoded(name, values, frs[0].method)
    check_header_decoded(ch, props, len(payload), frs[1])
    bodies = frs[2:]
    for b in bodies:
        expect('body frame', frame.Body, type(b))
        expect('channel', ch, b.channel_number)
        assert 0 < len(b.fragment) <= step
    expect('body', payload, b''.join(b.fragment for b in bodies))
    return {'oracle': ORACLE, 'kind': 'content', 'desc': desc, 'channel': ch,
            'method': {'oracle': ORACLE, 'kind': 'method', 'desc': desc, 'channel': ch,
                       **method_obj(name, values)},
            'header': {'oracle': ORACLE, 'kind': 'header', 'desc': desc, 'channel': ch,
                       **header_obj(props, len(payload))},
            'body': payload.hex(), 'frame_max': frame_max, 'body_frames': len(bodies),
            'frames': raw.hex()}


def table_vector(d, desc):
    pieces = []
    data.encode_table(pieces, d)
    raw = b''.join(pieces)
    decoded, used = data.decode_table(raw, 0)
    expect('consumed', len(raw), used)
    expect('table', d, decoded)
    tj = table_json(d)
    check_table_order(tj, decoded)
    return {'oracle': ORACLE, 'kind': 'table', 'desc': desc, 'bytes': raw.hex(), 'value': tj}


# ---------------------------------------------------------------------------
# inputs

TS = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)   # 1700000000

METHODS = [
    (0, 'connection.start', [0, 9, {'product': 'RabbitMQ', 'capabilities': {'basic.nack': True}},
                             b'PLAIN AMQPLAIN', b'en_US'], 'connection.start'),
    (0, 'connection.start-ok', [{'product': 'pika', 'platform': 'Python', 'capabilities':
                                 {'consumer_cancel_notify': True, 'basic.nack': True}},
                                'AMQPLAIN', b'\x05LOGINS\x00\x00\x00\x05guest', 'en_US'],
     'connection.start-ok AMQPLAIN (binary response)'),
    (0, 'connection.secure', [b'\xff\x00\x80chal'], 'connection.secure non-UTF-8 challenge'),
    (0, 'connection.secure-ok', [b'\xc3\x28ok'], 'connection.secure-ok non-UTF-8 response'),
    (0, 'connection.tune', [0x0102, 0x00020000, 0x0a0b], 'connection.tune'),
    (0, 'connection.tune-ok', [0x8001, 0xfffffff0, 0x00ff], 'connection.tune-ok'),
    (0, 'connection.open', ['/pika', '', False], 'connection.open'),
    (0, 'connection.open-ok', [''], 'connection.open-ok'),
    (0, 'connection.close', [0x01f5, 'SYNTAX_ERROR', 0x5a5a, 0xa5a5], 'connection.close'),
    (0, 'connection.close-ok', [], 'connection.close-ok'),
    (0, 'connection.blocked', ['resource alarm'], 'connection.blocked'),
    (0, 'connection.unblocked', [], 'connection.unblocked'),
    (0, 'connection.update-secret', [b'secret\xff\x00', 'rotate'],
     'connection.update-secret (pika decodes new-secret into `mechanisms`)'),
    (0, 'connection.update-secret-ok', [], 'connection.update-secret-ok'),
    (0x00ff, 'channel.open', [''], 'channel.open'),
    (0x00ff, 'channel.open-ok', [''], 'channel.open-ok'),
    (0x01ff, 'channel.flow', [False], 'channel.flow active=0'),
    (0x01ff, 'channel.flow-ok', [True], 'channel.flow-ok active=1'),
    (0x02ff, 'channel.close', [0x0193, 'ACCESS_REFUSED', 0x0028, 0x000a], 'channel.close'),
    (0x02ff, 'channel.close-ok', [], 'channel.close-ok'),
    (0x0a01, 'exchange.declare', [0, 'kx', 'fanout', True, False, True, False, True,
                                  {'z': 'last', 'a': 1}],
     'exchange.declare passive=1 durable=0 auto-delete=1 internal=0 no-wait=1, unsorted arguments'),
    (0x0a01, 'exchange.declare-ok', [], 'exchange.declare-ok'),
    (0x0a02, 'exchange.delete', [0, 'kx', True, True], 'exchange.delete if-unused=1 no-wait=1'),
    (0x0a02, 'exchange.delete-ok', [], 'exchange.delete-ok'),
    (0x0a03, 'exchange.bind', [0, 'd', 's', 'r', True, {'k': 'v'}], 'exchange.bind'),
    (0x0a03, 'exchange.bind-ok', [], 'exchange.bind-ok'),
    (0x0a04, 'exchange.unbind', [0, 'd', 's', 'r', True, {'k': 'v'}], 'exchange.unbind'),
    (0x0a04, 'exchange.unbind-ok', [], 'exchange.unbind-ok (method id 51)'),
    (0x0b01, 'queue.declare', [0, 'kq', False, False, True, True, False,
                               {'x-expires': 1800000, 'x-dead-letter-exchange': 'dlx'}],
     'queue.declare exclusive=1 auto-delete=1'),
    (0x0b01, 'queue.declare-ok', ['kq', 0xdeadbeef, 0x00c0ffee], 'queue.declare-ok'),
    (0x0b02, 'queue.bind', [0, 'kq', 'kx', 'r', False, {'x-match': 'any'}], 'queue.bind'),
    (0x0b02, 'queue.bind-ok', [], 'queue.bind-ok'),
    (0x0b03, 'queue.unbind', [0, 'kq', 'kx', 'r', {'x-match': 'any'}], 'queue.unbind'),
    (0x0b03, 'queue.unbind-ok', [], 'queue.unbind-ok'),
    (0x0b04, 'queue.purge', [0, 'kq', True], 'queue.purge no-wait=1'),
    (0x0b04, 'queue.purge-ok', [0x80000001], 'queue.purge-ok'),
    (0x0b05, 'queue.delete', [0, 'kq', True, True, False], 'queue.delete if-unused=1 if-empty=1'),
    (0x0b05, 'queue.delete-ok', [0x00010203], 'queue.delete-ok'),
    (0x0c01, 'basic.qos', [0, 0xfffe, False], 'basic.qos global=0'),
    (0x0c01, 'basic.qos-ok', [], 'basic.qos-ok'),
    (0x0c02, 'basic.consume', [0, 'kq', 'ktag', True, True, True, True, {'x-stream-offset': 'first'}],
     'basic.consume all four bits set'),
    (0x0c02, 'basic.consume-ok', ['ktag'], 'basic.consume-ok'),
    (0x0c03, 'basic.cancel', ['ktag', False], 'basic.cancel no-wait=0'),
    (0x0c03, 'basic.cancel-ok', ['ktag'], 'basic.cancel-ok'),
    (0x0c04, 'basic.publish', [0, 'kx', 'r', False, True], 'basic.publish immediate=1'),
    (0x0c04, 'basic.return', [0x0138, 'NO_ROUTE', 'kx', 'r'], 'basic.return'),
    (0x0c05, 'basic.deliver', ['ktag', 0x0102030405060708, False, 'kx', 'r'], 'basic.deliver'),
    (0x0c06, 'basic.get', [0, 'kq', False], 'basic.get no-ack=0'),
    (0x0c06, 'basic.get-ok', [0x1122334455667788, False, 'kx', 'r', 0x01000000], 'basic.get-ok'),
    (0x0c06, 'basic.get-empty', [''], 'basic.get-empty'),
    (0x0c07, 'basic.ack', [0x7fffffffffffffff, False], 'basic.ack'),
    (0x0c08, 'basic.reject', [0x1122334455667788, False], 'basic.reject requeue=0'),
    (0x0c09, 'basic.recover-async', [False], 'basic.recover-async requeue=0'),
    (0x0c09, 'basic.recover', [True], 'basic.recover requeue=1'),
    (0x0c09, 'basic.recover-ok', [], 'basic.recover-ok'),
    (0x0c0a, 'basic.nack', [0x1122334455667788, True, True], 'basic.nack multiple=1 requeue=1'),
    (0x0d01, 'confirm.select', [False], 'confirm.select nowait=0'),
    (0x0d01, 'confirm.select-ok', [], 'confirm.select-ok'),
    (0x0e01, 'tx.select', [], 'tx.select'),
    (0x0e01, 'tx.select-ok', [], 'tx.select-ok'),
    (0x0e02, 'tx.commit', [], 'tx.commit'),
    (0x0e02, 'tx.commit-ok', [], 'tx.commit-ok'),
    (0x0e03, 'tx.rollback', [], 'tx.rollback'),
    (0x0e03, 'tx.rollback-ok', [], 'tx.rollback-ok'),
]

PROPS_14 = [
    ('content-type', 'text/html'),
    ('content-encoding', 'utf-8'),
    ('headers', {'zz': 'last key first', 'aa': 1, 'big': 2 ** 40, 'bin': b'\x00\xff',
                 'when': TS, 'list': [1, 'a', None], 'nested': {'y': False}}),
    ('delivery-mode', 1),
    ('priority', 255),
    ('correlation-id', 'c-1'),
    ('reply-to', 'r-1'),
    ('expiration', '5000'),
    ('message-id', 'm-1'),
    ('timestamp', 0x0123456789abcdef),
    ('type', 't-1'),
    ('user-id', 'u-1'),
    ('app-id', 'a-1'),
    ('reserved', 'cluster-1'),
]

HEADERS = [
    (0x0102, PROPS_14, 0x1_0000_0001, 'all 14 properties (reserved = cluster_id), body-size 2^32+1'),
    (7, [('reserved', 'only-cluster')], 3, 'only reserved (cluster_id)'),
    (8, [('priority', 0), ('timestamp', 0)], 0, 'priority 0 and timestamp 0 present'),
    (9, [('delivery-mode', 2)], 0xffffffffffffffff, 'only delivery-mode, body-size 2^64-1'),
]


def body_bytes(n):
    return bytes((i * 11 + 1) % 256 for i in range(n))


CONTENTS = [
    (0x0c04, 'basic.publish', [0, 'kx', 'r', True, False], PROPS_14, body_bytes(30), 18,
     'basic.publish + 14 properties + 30-byte body in 3 frames (frame_max 18)'),
    (0x0c05, 'basic.deliver', ['ktag', 5, True, 'kx', 'r'], [('delivery-mode', 2)], body_bytes(1), 9,
     'basic.deliver + 1-byte body (frame_max 9 = 1 byte per body frame)'),
]

TABLES = [
    ({'zeta': 'z', 'alpha': 'a', 'mid': 'm'}, 'keys in insertion (unsorted) order'),
    ({'t': True, 'f': False}, 't: both booleans'),
    ({'I-min': -2147483648, 'I-max': 2147483647, 'l-min': -2 ** 63, 'l-max': 2 ** 63 - 1,
      'l-2^31': 2 ** 31}, 'I and l (pika writes ints as I if they fit, else l)'),
    ({'D-pos': decimal.Decimal('123.45'), 'D-neg': decimal.Decimal('-0.5'),
      'D-int': decimal.Decimal('42')}, 'D: decimals'),
    ({'T': TS}, 'T: timestamp'),
    ({'S': 'caf\u00e9', 'S-empty': '', 'x': b'\xff\xfe\x00', 'x-empty': b''}, 'S and x'),
    ({'V': None, 'A': [1, 'two', True, None, b'\x01', {'k': 2 ** 40}, [[]]]},
     'V and A with mixed elements'),
    ({'every': {'S': 's', 'x': b'b', 't': True, 'I': -1, 'l': -2 ** 33,
                'D': decimal.Decimal('-1.25'), 'T': TS, 'F': {}, 'A': [], 'V': None}},
     'every tag pika writes, nested in F'),
]


def main():
    methods = [method_vector(*m) for m in METHODS]
    headers = [header_vector(*h) for h in HEADERS]
    contents = [content_vector(*c) for c in CONTENTS]
    tables = [table_vector(*t) for t in TABLES]
    covered = {v['name'] for v in methods}
    missing = sorted(set(SPEC.methods) - covered)
    if missing:
        raise SystemExit(f'methods not covered: {missing}')
    out = os.path.join(HERE, 'pika.json')
    write_vectors(out, methods + headers + contents + tables)
    print(f'wrote {os.path.basename(out)}: {len(methods)} method, {len(headers)} header, '
          f'{len(contents)} content, {len(tables)} table vectors; method coverage '
          f'{len(covered)}/{len(SPEC.methods)} ({ORACLE})')


if __name__ == '__main__':
    main()
