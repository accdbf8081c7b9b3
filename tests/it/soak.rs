//! A bounded soak with real processes: two writers append with `Always` durability and report
//! each acknowledged seq; they are killed with SIGKILL at random moments, round after round,
//! with a compaction (which moves torn lines to quarantine) between rounds. Afterwards every
//! acknowledged record is present exactly once, in order, and nothing else is.

use crate::util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use util::*;

#[test]
fn writers_killed_again_and_again_lose_nothing() {
    let dir = tempdir();
    let log = dir.path().join("soak.ndjson");
    let log_arg = log.to_str().unwrap().to_string();
    let mut acked: BTreeMap<u64, serde_json::Value> = BTreeMap::new();
    let mut sent: Vec<serde_json::Value> = Vec::new();
    let (mut kills, mut compactions) = (0u32, 0u32);
    let mut rng = 0x5eed_u64;
    let mut next = move |n: u64| {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) % n
    };
    let started = Instant::now();
    for round in 0..12u64 {
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let mut child = ndlog()
                    .args(["append", &log_arg, "--durability", "always"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                let lines: Vec<String> = (0..100_000)
                    .map(|i| format!(r#"{{"round":{round},"w":{w},"i":{i}}}"#))
                    .collect();
                let feed = lines.clone();
                std::thread::spawn(move || {
                    for line in feed {
                        if writeln!(stdin, "{line}").is_err() {
                            break;
                        }
                    }
                });
                let out = BufReader::new(child.stdout.take().unwrap());
                (child, out, lines)
            })
            .collect();
        // Let them run for a random while, then SIGKILL both at different moments.
        std::thread::sleep(Duration::from_millis(20 + next(120)));
        for (mut child, out, lines) in writers {
            std::thread::sleep(Duration::from_millis(next(15)));
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            // Every seq the writer printed before it died was acknowledged; the n-th seq
            // belongs to the n-th line it was given.
            for (printed, payload) in out.lines().map_while(Result::ok).zip(&lines) {
                let value: serde_json::Value = serde_json::from_str(payload).unwrap();
                assert!(
                    acked.insert(printed.parse().unwrap(), value).is_none(),
                    "a seq acknowledged twice"
                );
            }
            sent.extend(lines.iter().take(2_000).map(|l| serde_json::from_str(l).unwrap()));
        }
        if round % 3 == 2 {
            let out = run(&["compact", &log_arg], b"");
            assert!(out.status.success(), "{}", stderr(&out));
            compactions += 1;
        }
    }
    let present = independent_parse(&std::fs::read(&log).unwrap());
    for pair in present.windows(2) {
        assert!(pair[0].seq < pair[1].seq && pair[0].ts <= pair[1].ts, "order");
    }
    let by_seq: BTreeMap<u64, &serde_json::Value> =
        present.iter().map(|l| (l.seq, &l.data)).collect();
    let mut lost = 0;
    for (seq, data) in &acked {
        match by_seq.get(seq) {
            Some(d) => assert_eq!(*d, data, "record {seq} changed"),
            None => lost += 1,
        }
    }
    for l in &present {
        assert!(
            acked.get(&l.seq) == Some(&l.data) || sent.contains(&l.data),
            "record {} was never sent",
            l.seq
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "soak: {kills} SIGKILLs, {compactions} compactions, {} acknowledged records, {} in the log, {lost} lost, {:.1} s",
        acked.len(),
        present.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0);
    assert!(acked.len() > 200, "too little was acknowledged to mean anything: {}", acked.len());
}
