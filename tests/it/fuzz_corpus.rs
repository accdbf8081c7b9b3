//! The fuzz targets as ordinary tests: each runs over its checked-in corpus (`fuzz/corpus/*`)
//! and over a seeded random sample, so CI exercises them on stable Rust. The real fuzzers:
//! `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run reader -- -dict=reader.dict` (and `ops`).

#[path = "../../fuzz/src/checks.rs"]
#[allow(unreachable_pub)] // the fuzz crate's root: its `pub` items are its API there
mod checks;

use std::path::Path;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Deterministic pseudo-random inputs built from pieces of valid logs, so they reach deep.
fn samples(seed: u64, count: usize, pieces: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    (0..count)
        .map(|_| {
            let mut input = Vec::new();
            for _ in 0..next() % 8 {
                match next() % 5 {
                    0 => input.push(next() as u8),
                    1 => input.extend_from_slice(b"\n"),
                    2 => input.extend(std::iter::repeat_n(0u8, (next() % 40) as usize)),
                    _ => {
                        let piece = &pieces[next() as usize % pieces.len()];
                        let from = next() as usize % (piece.len() + 1);
                        let to = from + next() as usize % (piece.len() - from + 1);
                        input.extend_from_slice(&piece[from..to]);
                    }
                }
            }
            input
        })
        .collect()
}

#[test]
fn reader_target_over_its_corpus_and_a_seeded_sample() {
    let corpus = corpus("reader");
    assert!(corpus.len() >= 5, "the corpus is checked in");
    for input in &corpus {
        checks::reader(input);
    }
    for input in samples(1, 3_000, &corpus) {
        checks::reader(&input);
    }
}

#[test]
fn ops_target_over_its_corpus_and_a_seeded_sample() {
    let corpus = corpus("ops");
    assert!(corpus.len() >= 5, "the corpus is checked in");
    for input in &corpus {
        checks::ops(input);
    }
    let mut x = 7u64;
    for _ in 0..300 {
        let input: Vec<u8> = (0..64)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (x >> 56) as u8
            })
            .collect();
        checks::ops(&input);
    }
}
