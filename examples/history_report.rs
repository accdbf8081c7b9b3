//! An offline history report: reads a log without writing to it, counts events per user over
//! a time range with typed, zero-copy deserialisation, and shows one user's state at a time.
//!
//! `cargo run --release --example history_report [LOG]` (without LOG it writes a sample log)

use std::collections::BTreeMap;

use ndlog::{JsonPointer, Reader, read::Bounds};

#[derive(serde::Deserialize)]
struct Event<'a> {
    user: &'a str,
    action: &'a str,
    #[serde(default)]
    amount_cents: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log = match std::env::args().nth(1) {
        Some(path) => path.into(),
        None => sample(&dir.path().join("events.ndjson"))?,
    };
    let reader = Reader::open(&log)?;
    let (Some(first), Some(last)) = (reader.records().next(), reader.last()) else {
        println!("{}: no records", log.display());
        return Ok(());
    };
    // The second half of the log's time span: a seek, not a scan, finds where it starts.
    let since = first.ts + (last.ts - first.ts) / 2;
    let bounds = Bounds { since: Some(since), ..Bounds::default() };
    let mut per_user: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut skipped = 0;
    for r in reader.records_in(bounds) {
        match r.deserialize::<Event>() {
            Ok(e) => {
                let entry = per_user.entry(e.user).or_default();
                entry.0 += 1;
                entry.1 += if e.action == "purchase" { e.amount_cents } else { 0 };
            }
            Err(_) => skipped += 1,
        }
    }
    println!("{}: records {}..={}, report from ts {since}", log.display(), first.seq, last.seq);
    for (user, (events, cents)) in &per_user {
        println!("  {user:<8} {events:>6} events  {:>10.2} spent", *cents as f64 / 100.0);
    }
    if skipped > 0 {
        println!("  ({skipped} records of another shape)");
    }
    let user = JsonPointer::parse("/user")?;
    if let Some(state) = reader.state_at(&user, "ana", since) {
        println!("ana at ts {since}: seq {} {}", state.seq, String::from_utf8_lossy(state.data));
    }
    println!("ana's versions: {}", reader.history(&user, "ana").count());
    Ok(())
}

fn sample(path: &std::path::Path) -> ndlog::Result<std::path::PathBuf> {
    let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(path)?;
    for i in 0..10_000u64 {
        let user = ["ana", "bo", "chen", "dee"][(i % 4) as usize];
        let action = if i % 3 == 0 { "purchase" } else { "view" };
        writer.append(
            &serde_json::json!({"user": user, "action": action, "amount_cents": i % 5000}),
        )?;
        if i % 2_000 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    writer.sync()?;
    Ok(path.to_path_buf())
}
