//! No heap allocation per record on the hot paths, counted by a global allocator: the verified
//! scan, lookups, the history filter, and steady-state appends.

#[path = "it/util/mod.rs"]
mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ndlog::{Durability, Options, Reader};

/// Counts the allocations of the thread that asked for counting; other test threads are left
/// alone.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every call to the system allocator unchanged; it only bumps a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: the caller upholds `alloc`'s contract, which is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: as for `realloc`'s contract, passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(Cell::get)
}

#[test]
fn the_counter_counts() {
    let n = allocations(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8))));
    assert_eq!(n, 1);
}

#[test]
fn the_verified_scan_allocates_nothing() {
    let dir = util::tempdir();
    let path = util::write_log(dir.path(), "scan.ndjson", 20_000);
    let reader = Reader::open(&path).unwrap();
    let mut sum = 0u64;
    let n = allocations(|| {
        let mut records = reader.records();
        for r in &mut records {
            sum += r.seq + r.data.len() as u64;
        }
        assert_eq!(records.stats().records, 20_000);
    });
    assert!(sum > 0);
    assert_eq!(n, 0, "allocations during a scan of 20,000 records");
    // Seeks, the backward scan and verification of a clean log allocate nothing either.
    let n = allocations(|| {
        assert_eq!(reader.get(12_345).unwrap().seq, 12_345);
        assert_eq!(reader.records_rev().take(100).count(), 100);
        assert!(reader.verify().is_clean());
    });
    assert_eq!(n, 0);
    // Nor does the history filter, for the records it skips by the needle (most) or after
    // evaluating the pointer (777 is in 1777, 7770, ...: only n = 777 is the entity).
    let key = ndlog::JsonPointer::parse("/n").unwrap();
    let n = allocations(|| {
        assert_eq!(reader.history(&key, "777").map(|r| r.seq).collect::<Vec<_>>(), [777]);
    });
    assert_eq!(n, 1, "only the collected Vec allocates");
}

#[test]
fn steady_state_appends_allocate_nothing() {
    #[derive(serde::Serialize)]
    struct Event<'a> {
        user: &'a str,
        n: u64,
    }
    let dir = util::tempdir();
    let writer =
        Options::new().durability(Durability::Never).open(dir.path().join("a.ndjson")).unwrap();
    let payload = br#"{"user":"u1","action":"click","page":"/products/42","n":1234567}"#;
    let batch: Vec<&[u8]> = vec![payload; 64];
    // Warm up: buffers grow to their working size.
    for _ in 0..10 {
        writer.append_raw(payload).unwrap();
        writer.append(&Event { user: "u1", n: 1 }).unwrap();
        writer.append_raw_batch(&batch).unwrap();
    }
    let n = allocations(|| {
        for i in 0..5_000 {
            writer.append_raw(payload).unwrap();
            writer.append(&Event { user: "u2", n: i }).unwrap();
        }
        for _ in 0..100 {
            writer.append_raw_batch(&batch).unwrap();
        }
    });
    assert_eq!(n, 0, "allocations during 16,400 appends");
}

#[test]
fn steady_state_durable_appends_allocate_nothing() {
    // Always, and Group (its queue, its batches, the thread's wait slot are all reused).
    for durability in [Durability::Always, Durability::Group] {
        let dir = util::tempdir();
        let writer =
            Options::new().durability(durability).open(dir.path().join("d.ndjson")).unwrap();
        let payload = br#"{"user":"u1","action":"click","page":"/products/42","n":1234567}"#;
        let batch: Vec<&[u8]> = vec![payload; 8];
        for _ in 0..5 {
            writer.append_raw(payload).unwrap();
            writer.append_raw_batch(&batch).unwrap();
        }
        let n = allocations(|| {
            for _ in 0..30 {
                writer.append_raw(payload).unwrap();
                writer.append_raw_batch(&batch).unwrap();
            }
        });
        assert_eq!(n, 0, "{durability:?}: allocations during 60 durable appends");
    }
}

#[test]
fn steady_state_conditional_appends_and_transactions_allocate_nothing() {
    // On entities the writer knows: the version check, the staged payload, the cache update.
    let dir = util::tempdir();
    let writer = Options::new()
        .durability(Durability::Never)
        .entity_key(ndlog::JsonPointer::parse("/id").unwrap())
        .open(dir.path().join("c.ndjson"))
        .unwrap();
    let payloads: Vec<Vec<u8>> =
        (0..8).map(|i| format!(r#"{{"id":"e{i}","n":1234567}}"#).into_bytes()).collect();
    let mut versions = [0u64; 8];
    let round = |writer: &ndlog::Writer, versions: &mut [u64; 8]| {
        for (i, p) in payloads.iter().enumerate() {
            let expect = ndlog::Expect::Version(versions[i]);
            versions[i] = writer.append_raw_if(expect, p).unwrap().seq;
        }
        for (i, p) in payloads.iter().enumerate() {
            let (v, ack) = writer
                .transaction(|tx| {
                    let v = tx.version(ENTITIES[i])?;
                    tx.append_raw(p)?;
                    Ok::<_, ndlog::Error>(v)
                })
                .unwrap();
            assert_eq!(v, versions[i]);
            versions[i] = ack.first_seq;
        }
    };
    for _ in 0..20 {
        round(&writer, &mut versions);
    }
    let n = allocations(|| {
        for _ in 0..200 {
            round(&writer, &mut versions);
        }
    });
    assert_eq!(n, 0, "allocations during 1,600 conditional appends and 1,600 transactions");
}

const ENTITIES: [&str; 8] = ["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"];

/// An error a declining transaction returns, made without allocating.
#[derive(Debug)]
struct Declined;

impl From<ndlog::Error> for Declined {
    fn from(e: ndlog::Error) -> Self {
        panic!("unexpected ndlog error: {e}")
    }
}

#[test]
fn transactions_that_stage_nothing_or_decline_keep_their_buffers() {
    // Between two transactions that append, one that stages nothing and one whose closure
    // fails after staging: neither may cost the next transaction an allocation.
    let dir = util::tempdir();
    let writer =
        Options::new().durability(Durability::Never).open(dir.path().join("t.ndjson")).unwrap();
    let payload = br#"{"id":"e1","n":1234567}"#;
    let round = |writer: &ndlog::Writer| {
        writer.transaction(|tx| tx.append_raw(payload).map_err(Declined::from)).unwrap();
        writer.transaction(|_| Ok::<_, Declined>(())).unwrap();
        writer.transaction(|tx| tx.append_raw(payload).map_err(Declined::from)).unwrap();
        let declined = writer.transaction(|tx| {
            tx.append_raw(payload)?;
            Err::<(), _>(Declined)
        });
        assert!(declined.is_err());
    };
    for _ in 0..20 {
        round(&writer);
    }
    let n = allocations(|| {
        for _ in 0..200 {
            round(&writer);
        }
    });
    assert_eq!(
        n, 0,
        "allocations during 800 transactions, half of them staging nothing or failing"
    );
}
