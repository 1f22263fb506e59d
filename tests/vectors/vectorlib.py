"""Shared helpers for the Python vector generators (gen_pamqp.py, gen_pika.py)
and the checker (check_vectors.py).

Nothing here encodes or decodes AMQP: it only reads the spec XML (field names
and types), splits a byte string into frames for the self-checks, and writes
the JSON files.
"""

import json
import os
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, '..', '..', 'amqp-protocol', 'spec', 'amqp0-9-1.extended.xml')


class Spec:
    """Method and property names/types from the extended XML."""

    def __init__(self, path=SPEC):
        root = ET.parse(path).getroot()
        domains = {d.get('name'): d.get('type') for d in root.findall('domain')}

        def resolve(t):
            while domains.get(t, t) != t:
                t = domains[t]
            return t

        def field(f):
            return f.get('name'), resolve(f.get('domain') or f.get('type'))

        self.methods = {}  # "class.method" -> dict
        for c in root.findall('class'):
            for m in c.findall('method'):
                name = f"{c.get('name')}.{m.get('name')}"
                self.methods[name] = {
                    'name': name,
                    'class': c.get('name'),
                    'method': m.get('name'),
                    'class_id': int(c.get('index')),
                    'method_id': int(m.get('index')),
                    'fields': [field(f) for f in m.findall('field')],
                }
            if c.get('name') == 'basic':
                self.properties = [field(f) for f in c.findall('field')]
        assert len(self.methods) == 64, len(self.methods)
        assert len(self.properties) == 14


def split_frames(data):
    """[(type, channel, payload)] for a byte string of whole frames."""
    out = []
    i = 0
    while i < len(data):
        ftype = data[i]
        ch = int.from_bytes(data[i + 1:i + 3], 'big')
        size = int.from_bytes(data[i + 3:i + 7], 'big')
        payload = data[i + 7:i + 7 + size]
        if len(payload) != size or data[i + 7 + size] != 0xCE:
            raise ValueError(f'bad frame at offset {i}')
        out.append((ftype, ch, payload))
        i += 8 + size
    return out


def write_vectors(path, vectors):
    """One vector per line inside a top-level array; deterministic."""
    with open(path, 'w', encoding='ascii', newline='\n') as fh:
        fh.write('[\n')
        fh.write(',\n'.join(json.dumps(v, ensure_ascii=True, allow_nan=False)
                            for v in vectors))
        fh.write('\n]\n')


class Mismatch(Exception):
    pass


def expect(what, expected, got):
    if expected != got or type(expected) is not type(got):
        raise Mismatch(f'{what}: expected {expected!r}, got {got!r}')
