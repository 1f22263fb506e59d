#!/usr/bin/env python3
"""Medians per (scenario, size, client) of run.sh results files (JSON lines;
several files are pooled), as Markdown tables, plus the ratios of ours to the
best peer, and, when the files hold -before clients (`./run.sh --before`),
each of ours against its -before build.

    python3 summarize.py target/bench-results/<stamp>.jsonl [more.jsonl ...]
    python3 summarize.py --before <files>   # the before/after table only

The before/after criterion: the median CPU per message (and, for latency,
the median p50) of a client is no worse than its -before build's median by
more than the spread (max - min) of the -before runs.
"""
import json
import statistics
import sys
from collections import OrderedDict

SCENARIOS = ["publish", "publish-confirm", "consume-ack", "consume-noack", "latency"]


def fmt(x, digits=0):
    if x is None:
        return "–"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}"


def load(paths):
    rows = [json.loads(l) for path in paths for l in open(path) if l.strip()]
    groups = OrderedDict()
    failures = []
    for r in rows:
        key = (r["scenario"], r["size"], r["client"])
        groups.setdefault(key, [])
        if r.get("ok"):
            groups[key].append(r)
        else:
            failures.append(r)
    return groups, failures


def values(runs, field):
    return [r[field] for r in runs if r.get(field) is not None]


def med(runs, field):
    vals = values(runs, field)
    return statistics.median(vals) if vals else None


def spread(runs, field):
    vals = values(runs, field)
    return max(vals) - min(vals) if vals else None


def before_after(groups):
    """Each client with a -before twin against it, as a Markdown table."""
    print("Each client (after) against its -before build: medians; spread = max - min of the")
    print("-before runs. ok: CPU/msg (and latency p50) no worse than before by more than that spread.")
    print()
    print("| scenario | size | client | runs after/before | msg/s after | msg/s before | CPU ns/msg after | CPU before | CPU before spread | CPU change | p50 µs after | p50 before | p50 before spread | verdict |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    sizes = sorted({k[1] for k in groups})
    failed = []
    for size in sizes:
        for sc in SCENARIOS:
            for (s, z, c) in groups:
                if s != sc or z != size or c.endswith("-before"):
                    continue
                a, b = groups[(s, z, c)], groups.get((s, z, c + "-before"))
                if not a or not b:
                    continue
                checks = [("CPU", "cpu_ns_per_msg", " ns")]
                if sc == "latency":
                    checks.append(("p50", "p50_us", " µs"))
                worse = []
                for name, field, unit in checks:
                    d = med(a, field) - med(b, field)
                    if d > spread(b, field):
                        worse.append(f"{name} +{fmt(d, 1 if unit == ' µs' else 0)}{unit} > spread")
                verdict = "ok" if not worse else "**" + "; ".join(worse) + "**"
                if worse:
                    failed.append((sc, size, c))
                lat = sc == "latency"
                cpu_a, cpu_b = med(a, "cpu_ns_per_msg"), med(b, "cpu_ns_per_msg")
                print(
                    f"| {sc} | {size} | {c} | {len(a)}/{len(b)} | {fmt(med(a, 'msgs_per_s'))} | "
                    f"{fmt(med(b, 'msgs_per_s'))} | {fmt(cpu_a)} | {fmt(cpu_b)} | "
                    f"{fmt(spread(b, 'cpu_ns_per_msg'))} | {(cpu_a / cpu_b - 1) * 100:+.0f} % | "
                    f"{fmt(med(a, 'p50_us'), 1) if lat else '–'} | {fmt(med(b, 'p50_us'), 1) if lat else '–'} | "
                    f"{fmt(spread(b, 'p50_us'), 1) if lat else '–'} | {verdict} |"
                )
    print()
    if failed:
        print(f"{len(failed)} rows fail the criterion: " + ", ".join(f"{c} {sc} {z} B" for sc, z, c in failed))
    else:
        print("Every row meets the criterion.")


def main(paths, before_only=False):
    groups, failures = load(paths)
    if before_only:
        before_after(groups)
        report_failures(failures)
        return

    sizes = sorted({k[1] for k in groups})
    print(f"Medians of {', '.join(paths)}")
    print()
    print("| scenario | size | client | runs | msg/s | CPU ns/msg (user+sys) | user ns/msg | sys ns/msg | csw/msg | max RSS MiB | p50 µs | p99 µs |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = []
    for size in sizes:
        for sc in SCENARIOS:
            clients = [k[2] for k in groups if k[0] == sc and k[1] == size]
            if not clients:
                continue
            stats = {}
            for c in clients:
                runs = groups[(sc, size, c)]
                s = {
                    "runs": len(runs),
                    "mps": med(runs, "msgs_per_s"),
                    "cpu": med(runs, "cpu_ns_per_msg"),
                    "user": med(runs, "user_ns_per_msg"),
                    "sys": med(runs, "sys_ns_per_msg"),
                    "csw": med(runs, "vcsw_per_msg"),
                    "rss": med(runs, "max_rss_mib"),
                    "p50": med(runs, "p50_us"),
                    "p99": med(runs, "p99_us"),
                }
                stats[c] = s
                print(
                    f"| {sc} | {size} | {c} | {s['runs']} | {fmt(s['mps'])} | {fmt(s['cpu'])} | "
                    f"{fmt(s['user'])} | {fmt(s['sys'])} | {fmt(s['csw'], 2)} | {fmt(s['rss'], 1)} | "
                    f"{fmt(s['p50'], 1)} | {fmt(s['p99'], 1)} |"
                )
            all_peers = {c: s for c, s in stats.items() if not c.startswith("ours") and s["runs"]}
            for ours in [c for c in stats if c.startswith("ours") and not c.endswith("-before")]:
                o = stats[ours]
                # The async adapter is held against the async clients, on
                # the same kind of tokio runtime (lapin has threads of its
                # own either way); the blocking one against the clients on
                # the default runtimes.
                variant = ours[len("ours-tokio"):] if ours.startswith("ours-tokio") else None
                if variant:
                    peers = {c: s for c, s in all_peers.items() if c == "amqprs" + variant or c.startswith("lapin")}
                elif ours == "ours-tokio":
                    peers = {c: s for c, s in all_peers.items() if c in ("amqprs", "lapin", "lapin-inflight")}
                else:
                    peers = {c: s for c, s in all_peers.items() if not c.endswith(("-ct", "-sp"))}
                if not o["runs"] or not peers:
                    continue
                best_mps = max(peers.items(), key=lambda kv: kv[1]["mps"] or 0)
                best_cpu = min(peers.items(), key=lambda kv: kv[1]["cpu"] or float("inf"))
                best_user = min(peers.items(), key=lambda kv: kv[1]["user"] or float("inf"))
                line = {
                    "scenario": sc,
                    "size": size,
                    "ours": ours,
                    "mps": (ratio(o["mps"], best_mps[1]["mps"]), best_mps[0]),
                    "cpu": (ratio(o["cpu"], best_cpu[1]["cpu"]), best_cpu[0]),
                    "user": (ratio(o["user"], best_user[1]["user"]), best_user[0]),
                }
                if sc == "latency":
                    b50 = min(peers.items(), key=lambda kv: kv[1]["p50"] or float("inf"))
                    b99 = min(peers.items(), key=lambda kv: kv[1]["p99"] or float("inf"))
                    line["p50"] = (ratio(o["p50"], b50[1]["p50"]), b50[0])
                    line["p99"] = (ratio(o["p99"], b99[1]["p99"]), b99[0])
                summary.append(line)
    if summary:
        print_ratios(summary)
    if any(k[2].endswith("-before") for k in groups):
        print()
        before_after(groups)
    report_failures(failures)


def print_ratios(summary):
    print()
    print("Ours / best peer (msg/s: above 1 is better; CPU and latency: below 1 is better)")
    print()
    print("| scenario | size | ours | msg/s | CPU/msg | user CPU/msg | p50 | p99 |")
    print("|---|---:|---|---|---|---|---|---|")
    for l in summary:
        cell = lambda k: f"{l[k][0]} ({l[k][1]})" if k in l else "–"
        print(
            f"| {l['scenario']} | {l['size']} | {l['ours']} | {cell('mps')} | {cell('cpu')} | "
            f"{cell('user')} | {cell('p50')} | {cell('p99')} |"
        )


def report_failures(failures):
    if failures:
        print()
        print(f"{len(failures)} failed runs:")
        for f in failures:
            print(f"  {f['client']} {f['scenario']} {f['size']} B: {f.get('error')}")


if __name__ == "__main__":
    args = sys.argv[1:]
    before_only = bool(args) and args[0] == "--before"
    if before_only:
        args = args[1:]
    if not args:
        sys.exit(__doc__)
    main(args, before_only)
