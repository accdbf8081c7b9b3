//! A crash-test harness on ndlog's fault-injecting file system, for your own application.
//!
//! The application here keeps account balances as transfer events in an ndlog log and derives
//! the balances by replaying it. The harness runs it on `SimFs`, stops the machine after every
//! operation in turn, builds the states a power loss could leave (unsynced writes lost, torn,
//! zeroed, garbled), recovers from each, and checks the application's own invariant: every
//! acknowledged transfer is applied exactly once, and the books balance.
//!
//! `cargo run --example crash_harness`

use ndlog::sim::{Fate, SimFs};
use ndlog::{Options, Reader};

const LOG: &str = "/bank/transfers.ndjson";

#[derive(serde::Serialize, serde::Deserialize)]
struct Transfer {
    id: u64,
    from: u8,
    to: u8,
    cents: i64,
}

/// The application: makes transfers; returns the ids acknowledged before it stopped.
fn workload(fs: &SimFs) -> Vec<u64> {
    let mut acked = Vec::new();
    let Ok(writer) = Options::new().open_in(fs.clone(), LOG) else { return acked };
    for id in 0..12u64 {
        let t =
            Transfer { id, from: (id % 3) as u8, to: ((id + 1) % 3) as u8, cents: 100 + id as i64 };
        match writer.append(&t) {
            Ok(_) => acked.push(id),
            Err(_) => break, // the machine stopped
        }
    }
    acked
}

/// Recovery: replay the log into balances; check the invariant.
fn check(fs: &SimFs, acked: &[u64]) -> Result<(), String> {
    let reader = match Reader::open_in(fs.clone(), LOG) {
        Ok(reader) => reader,
        Err(_) if acked.is_empty() => return Ok(()), // nothing was promised yet
        Err(e) => return Err(e.to_string()),
    };
    let mut balances = [0i64; 3];
    let mut seen = Vec::new();
    for t in reader.iter_as::<Transfer>() {
        let t = t.map_err(|e| e.to_string())?;
        if seen.contains(&t.value.id) {
            return Err(format!("transfer {} applied twice", t.value.id));
        }
        seen.push(t.value.id);
        balances[t.value.from as usize] -= t.value.cents;
        balances[t.value.to as usize] += t.value.cents;
    }
    if let Some(lost) = acked.iter().find(|id| !seen.contains(id)) {
        return Err(format!("acknowledged transfer {lost} lost"));
    }
    if balances.iter().sum::<i64>() != 0 {
        return Err(format!("the books do not balance: {balances:?}"));
    }
    // Recovery must also be able to go on.
    Options::new()
        .open_in(fs.clone(), LOG)
        .and_then(|w| w.append_raw(b"{}"))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn main() {
    let fresh = || {
        let fs = SimFs::new(2026);
        fs.put("/bank/.keep", b"");
        fs
    };
    let dry = fresh();
    workload(&dry);
    let (mut states, mut violations) = (0, 0);
    for stop in 0..=dry.ops() {
        let fs = fresh();
        fs.halt_after(stop);
        let acked = workload(&fs);
        let mut crashes =
            vec![fs.crash(|_| Fate::Kept, usize::MAX), fs.crash(|_| Fate::Dropped, 0)];
        crashes.extend((0..4).map(|seed| fs.crash_random(stop * 10 + seed)));
        for crashed in crashes {
            states += 1;
            if let Err(e) = check(&crashed, &acked) {
                violations += 1;
                eprintln!("machine stopped after op {stop}: {e}");
            }
        }
    }
    println!("{states} crash states checked, {violations} violations");
    assert_eq!(violations, 0);
}
