#!/usr/bin/env python3
"""Checks the committed vector files (run from the repository root):

    python3 tests/vectors/check_vectors.py

1. Format: every vector has the keys and JSON types that README.md describes;
   method names, field names and field order, and property names and order,
   are those of amqp-protocol/spec/amqp0-9-1.extended.xml; integers are never floats; hex is
   lowercase; every frame has a sane envelope (size, 0xCE end byte) and its
   class/method ids and body size agree with the JSON; content vectors'
   body/body_frames/frame_max agree with their frames.
2. Cross-decoding: the frames and tables of each file are decoded by a
   DIFFERENT oracle than the one that wrote them and the decoded values are
   compared with the JSON (tags aside, which the Python decoders do not
   report): erlang.json, pika.json and handmade.json with pamqp (with pika
   where pamqp cannot: tag `U`, timestamps after year 9999); pamqp.json with
   pika (floats compared truncated, as pika reads them).
3. Prints method coverage per oracle.

Exit status 1 on any problem.
"""

import datetime
import decimal
import glob
import json
import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pamqp.frame  # noqa: E402
import pamqp.decode  # noqa: E402
import pika.data  # noqa: E402
import pika.frame  # noqa: E402
import pika.spec  # noqa: E402

from vectorlib import HERE, Spec, split_frames  # noqa: E402

SPEC = Spec()
PROP_NAMES = [n for n, _ in SPEC.properties]
PROP_TYPES = dict(SPEC.properties)
HEX = re.compile(r'^(?:[0-9a-f]{2})*$')
INT_TAGS = set('bBUusIiLlT')
ALL_TAGS = set('tbBUusIiLlfdDSxAFTV')
errors = []


def err(where, msg):
    errors.append(f'{where}: {msg}')


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# ---------------------------------------------------------------------------
# 1. format

def check_field_value(where, t, v):
    if t == 'bit':
        ok = isinstance(v, bool)
    elif t in ('octet', 'short', 'long', 'longlong', 'timestamp'):
        bits = {'octet': 8, 'short': 16, 'long': 32, 'longlong': 64, 'timestamp': 64}[t]
        ok = is_int(v) and 0 <= v < 2 ** bits
    elif t in ('shortstr', 'longstr'):
        ok = isinstance(v, str) and HEX.match(v) and (t == 'longstr' or len(v) <= 510)
    elif t == 'table':
        ok = True
        check_table_value(where, v)
    else:
        ok = False
    if not ok:
        err(where, f'bad {t} value {v!r}')


def check_tagged(where, tag, v):
    if tag not in ALL_TAGS:
        err(where, f'unknown tag {tag!r}')
    elif tag == 't':
        if not isinstance(v, bool):
            err(where, 't needs bool')
    elif tag in INT_TAGS:
        rng = {'b': (-2 ** 7, 2 ** 7), 'B': (0, 2 ** 8), 'U': (-2 ** 15, 2 ** 15), 's': (-2 ** 15, 2 ** 15),
               'u': (0, 2 ** 16), 'I': (-2 ** 31, 2 ** 31), 'i': (0, 2 ** 32), 'L': (-2 ** 63, 2 ** 63),
               'l': (-2 ** 63, 2 ** 63), 'T': (0, 2 ** 64)}[tag]
        if not (is_int(v) and rng[0] <= v < rng[1]):
            err(where, f'{tag} value {v!r} out of range')
    elif tag in 'fd':
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            err(where, f'{tag} needs a number')
        elif tag == 'f' and struct.unpack('>f', struct.pack('>f', v))[0] != v:
            err(where, f'f value {v!r} not exact in f32')
    elif tag == 'D':
        if not (isinstance(v, list) and len(v) == 2 and is_int(v[0]) and is_int(v[1])
                and 0 <= v[0] < 256 and 0 <= v[1] < 2 ** 32):
            err(where, f'bad decimal {v!r}')
    elif tag in 'Sx':
        if not (isinstance(v, str) and HEX.match(v)):
            err(where, f'{tag} needs lowercase hex')
    elif tag == 'A':
        if not isinstance(v, list):
            err(where, 'A needs a list')
        else:
            for i, e in enumerate(v):
                if not (isinstance(e, list) and len(e) == 2):
                    err(where, f'array element {i} not [tag, v]')
                else:
                    check_tagged(f'{where}[{i}]', e[0], e[1])
    elif tag == 'F':
        check_table_value(where, v)
    elif tag == 'V':
        if v is not None:
            err(where, 'V needs null')


def check_table_value(where, tv):
    if not isinstance(tv, list):
        err(where, 'table value must be a list')
        return
    for i, e in enumerate(tv):
        if not (isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and isinstance(e[1], str)):
            err(where, f'entry {i} not [key, tag, v]')
            continue
        check_tagged(f'{where}.{e[0]}', e[1], e[2])


def check_method_obj(where, m):
    s = SPEC.methods.get(m.get('name'))
    if s is None:
        err(where, f'unknown method name {m.get("name")!r}')
        return None
    if (m.get('class_id'), m.get('method_id')) != (s['class_id'], s['method_id']):
        err(where, 'class_id/method_id do not match the XML')
    fields = m.get('fields')
    if [f[0] for f in fields] != [n for n, _ in s['fields']]:
        err(where, f'field names/order {[f[0] for f in fields]} != XML')
        return s
    for (fname, v), (_, t) in zip(fields, s['fields']):
        check_field_value(f'{where}.{fname}', t, v)
    return s


def check_header_obj(where, h):
    if h.get('class_id') != 60 or h.get('weight') != 0 or not is_int(h.get('body_size')):
        err(where, 'bad class_id/weight/body_size')
    names = [p[0] for p in h['properties']]
    if names != [n for n in PROP_NAMES if n in names]:
        err(where, f'property names/order {names} not XML order')
    for n, v in h['properties']:
        if n in PROP_TYPES:
            check_field_value(f'{where}.{n}', PROP_TYPES[n], v)
        else:
            err(where, f'unknown property {n}')


def check_envelopes(where, v):
    raw = bytes.fromhex(v['frames'])
    try:
        frames = split_frames(raw)
    except (ValueError, IndexError) as e:
        err(where, f'frames: {e}')
        return None
    for t, ch, _ in frames:
        if ch != v['channel']:
            err(where, f'frame channel {ch} != {v["channel"]}')
    return frames


def check_method_payload(where, m, payload):
    cid, mid = struct.unpack('>HH', payload[:4])
    if (cid, mid) != (m['class_id'], m['method_id']):
        err(where, f'frame has {cid}/{mid}')


def check_header_payload(where, h, payload):
    cid, weight, size = struct.unpack('>HHQ', payload[:12])
    if (cid, weight, size) != (60, 0, h['body_size']):
        err(where, f'header frame has class {cid} weight {weight} body size {size}')
    flags = struct.unpack('>H', payload[12:14])[0]
    present = [n for i, n in enumerate(PROP_NAMES) if flags & (1 << (15 - i))]
    if present != [p[0] for p in h['properties']]:
        err(where, f'property flags say {present}')


def check_format(fname, v, i):
    where = f'{fname}[{i}] {v.get("desc")!r}'
    for k in ('oracle', 'kind', 'desc'):
        if not isinstance(v.get(k), str):
            err(where, f'missing {k}')
    if v.get('oracle') == 'hand-made' and not v.get('note'):
        err(where, 'hand-made vector without note')
    kind = v.get('kind')
    if kind in ('method', 'header', 'content'):
        if not (is_int(v.get('channel')) and 0 <= v['channel'] < 65536):
            err(where, 'bad channel')
        if not (isinstance(v.get('frames'), str) and HEX.match(v['frames'])):
            err(where, 'frames not lowercase hex')
            return
        frames = check_envelopes(where, v)
        if frames is None:
            return
    if kind == 'method':
        check_method_obj(where, v)
        if len(frames) != 1 or frames[0][0] != 1:
            err(where, 'method vector must be one method frame')
        else:
            check_method_payload(where, v, frames[0][2])
    elif kind == 'header':
        check_header_obj(where, v)
        if len(frames) != 1 or frames[0][0] != 2:
            err(where, 'header vector must be one header frame')
        else:
            check_header_payload(where, v, frames[0][2])
    elif kind == 'content':
        check_method_obj(where + ' method', v['method'])
        check_header_obj(where + ' header', v['header'])
        types = [f[0] for f in frames]
        if types[:2] != [1, 2] or any(t != 3 for t in types[2:]):
            err(where, f'frame types {types}')
            return
        check_method_payload(where, v['method'], frames[0][2])
        check_header_payload(where, v['header'], frames[1][2])
        bodies = [p for _, _, p in frames[2:]]
        if b''.join(bodies).hex() != v['body']:
            err(where, 'body != concatenated body frames')
        if len(bodies) != v['body_frames']:
            err(where, 'body_frames mismatch')
        if any(len(b) > v['frame_max'] - 8 or not b for b in bodies):
            err(where, 'body frame larger than frame_max - 8 or empty')
        if v['header']['body_size'] != len(v['body']) // 2:
            err(where, 'body_size != len(body)')
        for sub in ('method', 'header'):
            if v[sub].get('channel', v['channel']) != v['channel']:
                err(where, f'{sub}.channel differs')
    elif kind == 'table':
        if not (isinstance(v.get('bytes'), str) and HEX.match(v['bytes'])):
            err(where, 'bytes not lowercase hex')
            return
        raw = bytes.fromhex(v['bytes'])
        if struct.unpack('>I', raw[:4])[0] != len(raw) - 4:
            err(where, 'length prefix wrong')
        check_table_value(where, v['value'])
    elif kind not in ('method', 'header', 'content'):
        err(where, f'unknown kind {kind!r}')


# ---------------------------------------------------------------------------
# 2. cross-decoding: JSON value -> canonical Python, decoded value -> canonical

def canon_json_field(tag, v, truncating_floats=False):
    if tag == 'D':
        raw = v[1] - 2 ** 32 if v[1] >= 2 ** 31 else v[1]
        return ('D', decimal.Decimal(raw) * (decimal.Decimal(10) ** -v[0]))
    if tag in 'Sx':
        return bytes.fromhex(v)
    if tag == 'F':
        return canon_json_table(v, truncating_floats)
    if tag == 'A':
        return [canon_json_field(t, x, truncating_floats) for t, x in v]
    if tag in 'fd' and truncating_floats:
        return int(v)
    return v


def canon_json_table(tv, truncating_floats=False):
    d = {}
    for k, t, v in tv:
        d[k] = canon_json_field(t, v, truncating_floats)
    return d


def canon_decoded(v):
    if isinstance(v, str):
        return v.encode('utf-8')
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, decimal.Decimal):
        return ('D', v)
    if isinstance(v, datetime.datetime):
        return int(v.timestamp())
    if isinstance(v, dict):
        return {(k.decode() if isinstance(k, bytes) else k): canon_decoded(x) for k, x in v.items()}
    if isinstance(v, list):
        return [canon_decoded(x) for x in v]
    return v


def canon_json_scalar(t, v, truncating_floats=False):
    if t in ('shortstr', 'longstr'):
        return bytes.fromhex(v)
    if t == 'table':
        return canon_json_table(v, truncating_floats)
    return v


def same(t, expected, got):
    if t == 'longlong' and is_int(got):
        return expected == got % 2 ** 64  # pamqp decodes longlong as signed
    if t == 'timestamp' and is_int(got):
        return expected == got % 2 ** 64
    return expected == got


def contains_tag(tv, tags):
    for _, t, v in tv:
        if t in tags or (t == 'F' and contains_tag(v, tags)) or (t == 'A' and array_has(v, tags)):
            return True
    return False


def array_has(av, tags):
    for t, v in av:
        if t in tags or (t == 'F' and contains_tag(v, tags)) or (t == 'A' and array_has(v, tags)):
            return True
    return False


def vector_tables(v):
    out = []
    objs = [v] if v['kind'] == 'method' else [v['method']] if v['kind'] == 'content' else []
    for m in objs:
        for (n, x), (_, t) in zip(m['fields'], SPEC.methods[m['name']]['fields']):
            if t == 'table':
                out.append(x)
    hdrs = [v] if v['kind'] == 'header' else [v['header']] if v['kind'] == 'content' else []
    for h in hdrs:
        out += [x for n, x in h['properties'] if n == 'headers']
    if v['kind'] == 'table':
        out.append(v['value'])
    return out


class PamqpDecoder:
    name = 'pamqp'
    truncating_floats = False
    cannot = set('U')

    def table(self, raw):
        used, d = pamqp.decode.field_table(raw)
        assert used == len(raw)
        return d

    def frames(self, raw):
        out = []
        while raw:
            used, ch, obj = pamqp.frame.unmarshal(raw)
            out.append(obj)
            raw = raw[used:]
        return out

    def method_values(self, obj):
        return [getattr(obj, a) for a in obj.attributes()]

    def header_values(self, obj):
        return obj.body_size, [getattr(obj.properties, a) for a in obj.properties.attributes()]

    def body(self, obj):
        return obj.value


class PikaDecoder:
    name = 'pika'
    truncating_floats = True  # pika reads f/d as int
    cannot = set()

    def table(self, raw):
        d, used = pika.data.decode_table(raw, 0)
        assert used == len(raw)
        return d

    def frames(self, raw):
        out = []
        while raw:
            if raw[0] == 1 and raw[7:11] == b'\x00\x0a\x00\x46':
                # decode_frame cannot build Connection.UpdateSecret (pika bug)
                size = struct.unpack('>I', raw[3:7])[0]
                m = pika.spec.Connection.UpdateSecret(None, None).decode(raw[7:7 + size], 4)
                m.new_secret = m.mechanisms
                out.append(m)
                raw = raw[8 + size:]
                continue
            used, fr = pika.frame.decode_frame(raw)
            assert used
            out.append(fr.method if isinstance(fr, pika.frame.Method) else fr)
            raw = raw[used:]
        return out

    def method_values(self, obj):
        import inspect
        return [getattr(obj, a) for a in list(inspect.signature(type(obj).__init__).parameters)[1:]]

    def header_values(self, fr):
        import inspect
        args = list(inspect.signature(pika.spec.BasicProperties.__init__).parameters)[1:]
        return fr.body_size, [getattr(fr.properties, a) for a in args]

    def body(self, fr):
        return fr.fragment


def cross_check(fname, v, i, dec):
    where = f'{fname}[{i}] {v["desc"]!r} (decoded by {dec.name})'
    tf = dec.truncating_floats
    if any(contains_tag(t, dec.cannot) for t in vector_tables(v)):
        return 'skipped'
    try:
        if v['kind'] == 'table':
            got = canon_decoded(dec.table(bytes.fromhex(v['bytes'])))
            if got != canon_json_table(v['value'], tf):
                err(where, f'table decodes to {got!r}')
            return 'ok'
        objs = dec.frames(bytes.fromhex(v['frames']))
        ms = [v] if v['kind'] == 'method' else [v['method']] if v['kind'] == 'content' else []
        hs = [v] if v['kind'] == 'header' else [v['header']] if v['kind'] == 'content' else []
        if ms:
            m = ms[0]
            vals = dec.method_values(objs.pop(0))
            for (n, x), (_, t), g in zip(m['fields'], SPEC.methods[m['name']]['fields'], vals):
                if not same(t, canon_json_scalar(t, x, tf), canon_decoded(g)):
                    err(where, f'{m["name"]}.{n}: JSON {x!r} vs decoded {g!r}')
        if hs:
            h = hs[0]
            size, vals = dec.header_values(objs.pop(0))
            if size != h['body_size']:
                err(where, f'body_size decodes to {size}')
            present = dict(h['properties'])
            for n, g in zip(PROP_NAMES, vals):
                if n in present:
                    t = PROP_TYPES[n]
                    if not same(t, canon_json_scalar(t, present[n], tf), canon_decoded(g)):
                        err(where, f'property {n}: JSON {present[n]!r} vs decoded {g!r}')
                elif g not in (None, ''):
                    err(where, f'absent property {n} decodes to {g!r}')
        if v['kind'] == 'content':
            body = b''.join(dec.body(o) for o in objs)
            if body.hex() != v['body']:
                err(where, 'body differs')
    except Exception as e:  # noqa: BLE001
        err(where, f'{type(e).__name__}: {e}')
    return 'ok'


def main():
    files = sorted(glob.glob(os.path.join(HERE, '*.json')))
    coverage = {}
    for path in files:
        fname = os.path.basename(path)
        size = os.path.getsize(path)
        if size > 300 * 1024:
            err(fname, f'file is {size} bytes (> 300 KB)')
        vectors = json.load(open(path))
        counts = {}
        crossed = {'ok': 0, 'pika': 0, 'skipped': 0}
        for i, v in enumerate(vectors):
            check_format(fname, v, i)
            counts[(v['oracle'], v['kind'])] = counts.get((v['oracle'], v['kind']), 0) + 1
            if v['kind'] == 'method':
                coverage.setdefault(v['oracle'], set()).add(v['name'])
            if v['kind'] == 'content':
                coverage.setdefault(v['oracle'], set()).add(v['method']['name'])
            if v['oracle'].startswith('pamqp'):
                crossed[cross_check(fname, v, i, PikaDecoder())] += 1
            elif any(contains_tag(t, 'U') for t in vector_tables(v)):
                crossed[cross_check(fname, v, i, PikaDecoder())] += 1  # pamqp cannot read U
            else:
                # pamqp cannot decode timestamps after year 9999 (datetime);
                # for those vectors pika is the second decoder.
                n_err = len(errors)
                res = cross_check(fname, v, i, PamqpDecoder())
                if len(errors) > n_err and all('out of range' in e for e in errors[n_err:]):
                    del errors[n_err:]
                    res = cross_check(fname, v, i, PikaDecoder())
                    res = 'pika' if res == 'ok' else res
                    if len(errors) > n_err and all('out of range' in e for e in errors[n_err:]):
                        # neither Python decoder can hold this timestamp
                        del errors[n_err:]
                        res = 'skipped'
                crossed[res] += 1
        for (oracle, kind), n in sorted(counts.items()):
            print(f'{fname}: {oracle}: {n} {kind}')
        print(f'{fname}: cross-decoded {crossed["ok"] + crossed["pika"]} '
              f'({crossed["pika"]} of them by pika because pamqp cannot decode the timestamp), '
              f'skipped {crossed["skipped"]} '
              f'(decoder lacks a tag, or a timestamp too large for Python datetime)')
    for oracle, names in sorted(coverage.items()):
        print(f'method coverage {oracle}: {len(names)}/{len(SPEC.methods)}')
    if errors:
        print(f'{len(errors)} problem(s):')
        for e in errors:
            print('  ' + e)
        print(f'0 passed, {len(errors)} failed')
        sys.exit(1)
    print('all vector files OK')


if __name__ == '__main__':
    main()
