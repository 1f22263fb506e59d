#!/usr/bin/env python3
"""Hand-made vectors for the field-table tags `U` (i16) and `L` (i64).

Run from the repository root:   python3 tests/vectors/gen_handmade.py
Writes tests/vectors/handmade.json.

No oracle *encodes* these tags (RabbitMQ never writes them and its parser has
no clause for `U`; pamqp rejects `U`; pika writes only I/l), so the bytes
below are spelled out by hand with struct.pack: key = u8 length + bytes, then
the tag byte, then the big-endian value.  They are then checked by DECODING
them with pika (pika.data.decode_short_string / decode_value, which read `U`
as i16 and `L` as i64 and keep duplicate keys when walked entry by entry) and,
where the table has no `U`, with pamqp.decode.field_table as well.  The run
fails (exit 1) on any difference.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pamqp import decode as pamqp_decode  # noqa: E402
from pika import data as pika_data  # noqa: E402

from vectorlib import HERE, expect, split_frames, write_vectors  # noqa: E402

NOTE = ('written by hand (bytes spelled out with struct.pack) because no oracle encodes '
        'the field-table tags U (i16) and L (i64); checked by decoding with pika 1.4.4 '
        '(and pamqp 4.0.1 where no U is present)')


# --- hand encoding (deliberately explicit) ------------------------------------

def key(k):
    b = k.encode('ascii')
    return struct.pack('>B', len(b)) + b


def val(tag, v):
    if tag == 'U':
        return b'U' + struct.pack('>h', v)
    if tag == 'L':
        return b'L' + struct.pack('>q', v)
    if tag == 'S':
        return b'S' + struct.pack('>I', len(v)) + v
    if tag == 'I':
        return b'I' + struct.pack('>i', v)
    if tag == 't':
        return b't' + struct.pack('>B', 1 if v else 0)
    if tag == 'b':
        return b'b' + struct.pack('>b', v)
    if tag == 'l':
        return b'l' + struct.pack('>q', v)
    if tag == 'V':
        return b'V'
    if tag == 'F':
        return b'F' + table(v)
    if tag == 'A':
        body = b''.join(val(t, x) for t, x in v)
        return b'A' + struct.pack('>I', len(body)) + body
    raise ValueError(tag)


def table(entries):
    body = b''.join(key(k) + val(t, v) for k, t, v in entries)
    return struct.pack('>I', len(body)) + body


def to_json_entries(entries):
    out = []
    for k, t, v in entries:
        out.append([k, t, value_json(t, v)])
    return out


def value_json(t, v):
    if t == 'S':
        return v.hex()
    if t == 'F':
        return to_json_entries(v)
    if t == 'A':
        return [[et, value_json(et, ev)] for et, ev in v]
    return v


# --- checks by decoding with pika / pamqp ---------------------------------------

def pika_pairs(raw, offset=0):
    """Walk a table with pika's primitives: [(key, value)] in wire order, duplicates kept."""
    size = struct.unpack_from('>I', raw, offset)[0]
    offset += 4
    end = offset + size
    out = []
    while offset < end:
        k, offset = pika_data.decode_short_string(raw, offset)
        v, offset = pika_data.decode_value(raw, offset)
        out.append((k, v))
    expect('table end', end, offset)
    return out, offset


def python_value(t, v):
    """The value pika's decoder should give for an entry."""
    if t == 'S':
        return v.decode('utf-8')
    if t == 'F':
        return {k: python_value(et, ev) for k, et, ev in v}
    if t == 'A':
        return [python_value(et, ev) for et, ev in v]
    if t == 'V':
        return None
    return v


def has_u(entries):
    for _, t, v in entries:
        if t == 'U' or (t == 'F' and has_u(v)) or (t == 'A' and any(et == 'U' for et, _ in v)):
            return True
    return False


def check_table(entries, raw):
    pairs, used = pika_pairs(raw)
    expect('consumed', len(raw), used)
    expect('pika pairs', [(k, python_value(t, v)) for k, t, v in entries], pairs)
    keys = [k for k, _, _ in entries]
    if not has_u(entries) and len(set(keys)) == len(keys):
        used, d = pamqp_decode.field_table(raw)
        expect('pamqp consumed', len(raw), used)
        expect('pamqp table', {k: python_value(t, v) for k, t, v in entries}, d)


def table_vector(entries, desc):
    raw = table(entries)
    check_table(entries, raw)
    return {'oracle': 'hand-made', 'kind': 'table', 'desc': desc, 'note': NOTE,
            'bytes': raw.hex(), 'value': to_json_entries(entries)}


def frame(ftype, ch, payload):
    return struct.pack('>BHI', ftype, ch, len(payload)) + payload + b'\xce'


def shortstr(s):
    return struct.pack('>B', len(s)) + s


def queue_declare_vector(ch, args, desc):
    # queue.declare 50/10: reserved-1 u16, queue shortstr, 5 bits, arguments table
    q = b'q.hand'
    bits = 0b00010  # passive=0 durable=1 exclusive=0 auto-delete=0 no-wait=0
    payload = (struct.pack('>HHH', 50, 10, 0) + shortstr(q) + struct.pack('>B', bits)
               + table(args))
    raw = frame(1, ch, payload)
    [(t, c, p)] = split_frames(raw)
    expect('payload', payload, p)
    # decode the arguments with pika
    pairs, end = pika_pairs(p, 4 + 2 + 1 + len(q) + 1)
    expect('method end', len(p), end)
    expect('pika pairs', [(k, python_value(t, v)) for k, t, v in args], pairs)
    return {'oracle': 'hand-made', 'kind': 'method', 'desc': desc, 'note': NOTE,
            'channel': ch, 'class_id': 50, 'method_id': 10, 'name': 'queue.declare',
            'fields': [['reserved-1', 0], ['queue', q.hex()], ['passive', False],
                       ['durable', True], ['exclusive', False], ['auto-delete', False],
                       ['no-wait', False], ['arguments', to_json_entries(args)]],
            'frames': raw.hex()}


def header_vector(ch, headers, body_size, desc):
    # content header: class 60, weight 0, body-size u64, flags 0x2000 (headers only)
    payload = struct.pack('>HHQH', 60, 0, body_size, 0x2000) + table(headers)
    raw = frame(2, ch, payload)
    pairs, end = pika_pairs(payload, 14)
    expect('header end', len(payload), end)
    expect('pika pairs', [(k, python_value(t, v)) for k, t, v in headers], pairs)
    return {'oracle': 'hand-made', 'kind': 'header', 'desc': desc, 'note': NOTE,
            'channel': ch, 'class_id': 60, 'weight': 0, 'body_size': body_size,
            'properties': [['headers', to_json_entries(headers)]],
            'frames': raw.hex()}


TABLES = [
    ([('u-one', 'U', 1), ('u-hi', 'U', 0x1234), ('u-max', 'U', 32767)], 'U: positive i16 values'),
    ([('u-neg1', 'U', -1), ('u-min', 'U', -32768), ('u-neg', 'U', -0x1234)], 'U: negative i16 values'),
    ([('l-one', 'L', 1), ('l-hi', 'L', 0x0123456789abcdef), ('l-max', 'L', 2 ** 63 - 1)],
     'L: positive i64 values'),
    ([('l-neg1', 'L', -1), ('l-min', 'L', -2 ** 63), ('l-neg', 'L', -0x0123456789abcdef)],
     'L: negative i64 values'),
    ([('S', 'S', b'text'), ('U', 'U', -2), ('I', 'I', -70000), ('L', 'L', -5000000000),
      ('t', 't', True), ('b', 'b', -3), ('l', 'l', 7),
      ('F', 'F', [('inner-U', 'U', 300), ('inner-L', 'L', -300)]),
      ('A', 'A', [('U', -7), ('L', 2 ** 40), ('S', b'x'), ('V', None)]),
      ('V', 'V', None)],
     'U and L mixed with other tags, nested in F and A'),
    ([('dup', 'U', 1), ('dup', 'L', -1), ('other', 't', False), ('dup', 'S', b'third')],
     'the same key three times (all must be kept, in order)'),
    ([('zulu', 'L', 26), ('alpha', 'U', 1), ('mike', 'U', -13), ('bravo', 'L', -2)],
     'keys not in sorted order (order must be kept)'),
    ([('arr', 'A', [('U', 32767), ('U', -32768), ('L', 2 ** 63 - 1), ('L', -2 ** 63)])],
     'array of U and L extremes'),
]


def main():
    vectors = [table_vector(e, d) for e, d in TABLES]
    vectors.append(queue_declare_vector(
        0x0304, [('x-u', 'U', -2), ('x-l', 'L', 0x0123456789abcdef), ('x-S', 'S', b'v')],
        'queue.declare with U and L in arguments'))
    vectors.append(header_vector(
        0x0506, [('x-retries', 'U', -1), ('x-id', 'L', -0x0123456789abcdef)], 42,
        'content header with only headers, containing U and L'))
    out = os.path.join(HERE, 'handmade.json')
    write_vectors(out, vectors)
    kinds = {}
    for v in vectors:
        kinds[v['kind']] = kinds.get(v['kind'], 0) + 1
    print(f'wrote {os.path.basename(out)}: {kinds} (checked by decoding with pika and pamqp)')


if __name__ == '__main__':
    main()
