#!/usr/bin/env python3
"""Before and after in one session: alternates bench executables (built from two commits) in
their child mode (NDLOG_BENCH_CHILD, benches/common/child.rs). For each round, each case and
each executable, one run: PROCS processes of THREADS threads append COUNT 100-byte payloads
each, timed from "go" to the last "done". Prints the median rate per case and executable.

    peers/alternate.py BEFORE_EXE,AFTER_EXE DURABILITY:THREADS:PROCS:COUNT[,...] [ROUNDS]

e.g. peers/alternate.py ./peers-before,./peers-after group:16:1:16000,always:1:4:1000 5
Files go to $NDLOG_BENCH_DIR (default target/tmp)."""
import os, subprocess, sys, time, statistics, tempfile, shutil
bins = sys.argv[1].split(',')
cases = [c.split(':') for c in sys.argv[2].split(',')]   # durability:threads:procs:count
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
base = os.environ.get('NDLOG_BENCH_DIR', 'target/tmp')
os.makedirs(base, exist_ok=True)
res = {}
def run(binary, dur, threads, procs, count):
    d = tempfile.mkdtemp(dir=base)
    path = os.path.join(d, 'b.ndjson')
    # create the log first
    env0 = dict(os.environ, NDLOG_BENCH_CHILD=f"{path}\t100\t0\t{dur}\t1")
    p = subprocess.Popen([binary], env=env0, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdout.readline(); p.stdin.write(b'g'); p.stdin.flush(); p.stdout.readline(); p.wait()
    env = dict(os.environ, NDLOG_BENCH_CHILD=f"{path}\t100\t{count}\t{dur}\t{threads}")
    ps = [subprocess.Popen([binary], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(procs)]
    for p in ps: assert p.stdout.readline().strip() == b'ready'
    t = time.perf_counter()
    for p in ps: p.stdin.write(b'g'); p.stdin.flush()
    for p in ps: assert p.stdout.readline().strip() == b'done'
    el = time.perf_counter() - t
    for p in ps: p.wait()
    shutil.rmtree(d)
    return count * threads * procs / el
for r in range(rounds):
    for c in cases:
        dur, threads, procs, count = c[0], int(c[1]), int(c[2]), int(c[3])
        for b in bins:
            rate = run(b, dur, threads, procs, count)
            res.setdefault((tuple(c), b), []).append(rate)
            print(f"round {r} {dur} {threads}t {procs}p {os.path.basename(b)}: {rate:,.0f}/s", file=sys.stderr, flush=True)
print("| case | " + " | ".join(os.path.basename(b) for b in bins) + " | ratio last/first |")
print("|---|" + "---:|" * len(bins) + "---:|")
for c in cases:
    meds = [statistics.median(res[(tuple(c), b)]) for b in bins]
    print(f"| {c[0]} {c[1]} threads x {c[2]} procs | " + " | ".join(f"{m:,.0f}/s" for m in meds) + f" | {meds[-1]/meds[0]:.2f}x |")
