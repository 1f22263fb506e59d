"""Renders the client-mode results table from the JSON reports of
`amqp-conform client --json` (one file per client, CLIENT.json in the
directory given) into the README, between its client-table markers.

    python3 table.py REPORTS_DIR README CLIENT...

Clients without a report are left out. Used by table.sh.
"""

import json
import os
import re
import sys

BEGIN = "<!-- client-table:begin -->"
END = "<!-- client-table:end -->"

HERE = os.path.dirname(os.path.abspath(__file__))


def locked_version(package, major=None):
    """The version of `package` in the peers' Cargo.lock (the one of this
    major version, when the lockfile holds several), or '?'."""
    try:
        with open(os.path.join(HERE, "peers", "Cargo.lock")) as f:
            lock = f.read()
    except OSError:
        return "?"
    versions = re.findall(r'name = "%s"\nversion = "([^"]+)"' % re.escape(package), lock)
    for v in versions:
        if major is None or v.split(".")[0] == str(major):
            return v
    return "?"


def pinned_pika():
    try:
        with open(os.path.join(HERE, "pika", "requirements.txt")) as f:
            for line in f:
                if line.strip().startswith("pika=="):
                    return line.strip().split("==", 1)[1]
    except OSError:
        pass
    return "?"


def titles():
    pika = pinned_pika()
    return {
        "blocking": "amqp-client blocking",
        "tokio": "amqp-client tokio",
        "smol": "amqp-client futures-io (smol)",
        "event-loop": "amqp-client event loop",
        "pika-blocking": "pika %s BlockingConnection" % pika,
        "pika-select": "pika %s SelectConnection" % pika,
        "lapin": "lapin %s" % locked_version("lapin", 3),
        "lapin4": "lapin %s" % locked_version("lapin", 4),
        "amqprs": "amqprs %s" % locked_version("amqprs"),
    }


def cell(s):
    verdict = s["verdict"]
    if verdict == "pass":
        return "pass"
    if verdict == "closed-wrong-code":
        got = (s.get("client_close") or {}).get("code")
        m = re.search(r"wrong code: (\d+)", s["reason"])
        return "wrong code (%s)" % (m.group(1) if m else got)
    exit_ = s["exit"]
    if exit_.startswith("hang"):
        return "**hang**"
    if "crash" in exit_:
        return "**crash**"
    return "**fail**"


def summary(text, limit=160):
    """The telling line of a driver's standard error: a panic with its
    message, a stack overflow, or else the last line that is not a note."""
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    line = ""
    for i, l in enumerate(lines):
        if "panicked at" in l:
            line = l + (" " + lines[i + 1] if i + 1 < len(lines) else "")
            break
        if "has overflowed its stack" in l:
            line = l
            break
    else:
        rest = [l for l in lines if not l.startswith("note:") and l != "Aborted"]
        line = rest[-1] if rest else ""
    # Neither this machine's paths nor thread ids: a crate's source path
    # starts at the crate.
    line = re.sub(r"(?:/[^\s/]+)+/([A-Za-z0-9_-]+-\d+\.\d+\.\d+/)", r"\1", line)
    line = re.sub(r"(thread '[^']*') \(\d+\)", r"\1", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def render(reports, order):
    names = titles()
    clients = [c for c in order if c in reports]
    scenarios = [s["id"] for s in reports[clients[0]]["scenarios"]]
    out = []
    out.append("| scenario | " + " | ".join(names.get(c, c) for c in clients) + " |")
    out.append("|---|" + "---|" * len(clients))
    by_id = {c: {s["id"]: s for s in reports[c]["scenarios"]} for c in clients}
    for sid in scenarios:
        row = [cell(by_id[c][sid]) if sid in by_id[c] else "–" for c in clients]
        out.append("| `%s` | " % sid + " | ".join(row) + " |")
    totals = []
    for c in clients:
        passed = sum(1 for s in by_id[c].values() if s["verdict"] == "pass")
        totals.append("%d / %d" % (passed, len(by_id[c])))
    out.append("| **passed** | " + " | ".join(totals) + " |")
    out.append("")
    out.append("Why each client did not pass (the grade, then the end of the driver's")
    out.append("standard error):")
    out.append("")
    for c in clients:
        failing = [by_id[c][sid] for sid in scenarios if sid in by_id[c] and by_id[c][sid]["verdict"] != "pass"]
        if not failing:
            out.append("- **%s**: every scenario passed." % names.get(c, c))
            continue
        out.append("- **%s**:" % names.get(c, c))
        for s in failing:
            err = summary(s.get("stderr", ""))
            reason = s["reason"].replace("FAIL: ", "")
            line = "  - `%s`: %s" % (s["id"], reason)
            if err:
                line += " (`%s`)" % err.replace("`", "'")
            out.append(line)
    return "\n".join(out)


def main():
    directory, readme, order = sys.argv[1], sys.argv[2], sys.argv[3:]
    reports = {}
    for c in order:
        path = os.path.join(directory, c + ".json")
        if os.path.exists(path):
            with open(path) as f:
                reports[c] = json.load(f)
    if not reports:
        sys.exit("no reports in %s" % directory)
    table = render(reports, order)
    with open(readme) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit("%s has no %s ... %s markers" % (readme, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme, "w") as f:
        f.write(head + BEGIN + "\n" + table + "\n" + END + tail)


if __name__ == "__main__":
    main()
