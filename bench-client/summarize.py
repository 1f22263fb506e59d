#!/usr/bin/env python3
"""Medians per (scenario, size, client) of run.sh results files (JSON lines;
several files are pooled), as Markdown tables, plus the ratios of ours to the
best peer.

    python3 summarize.py target/bench-results/<stamp>.jsonl [more.jsonl ...]
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


def main(paths):
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

    def med(runs, field):
        vals = [r[field] for r in runs if r.get(field) is not None]
        return statistics.median(vals) if vals else None

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
            for ours in [c for c in stats if c.startswith("ours")]:
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
    if failures:
        print()
        print(f"{len(failures)} failed runs:")
        for f in failures:
            print(f"  {f['client']} {f['scenario']} {f['size']} B: {f.get('error')}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
