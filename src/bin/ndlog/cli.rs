//! The top-level command line: the subcommands, each with the arguments its `cmd/` module
//! defines.

use clap::{Parser, Subcommand};

use crate::cmd;
use crate::exit::EXIT_CODES;

/// ndlog: an append-only, CRC-framed NDJSON event log.
///
/// Many processes append at once (each record framed with a seq, a ts and a CRC-32, written
/// with one O_APPEND write under a flock, and fdatasync'd before it is acknowledged); readers
/// memory-map the file, verify every line, skip a torn tail and step over damage. The file is
/// plain NDJSON: jq, DuckDB and Spark read it as is.
#[derive(Debug, Parser)]
#[command(name = "ndlog", version, after_help = EXIT_CODES, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Ingest from several writer processes (one killed mid-stream), verify and scan a log in a
    /// temporary directory, and print what happened and how fast.
    #[command(after_help = EXIT_CODES)]
    Demo(cmd::demo::Args),
    /// Create a log: a single file, tamper-evident with --chain (every record carries a SHA-256
    /// link to the history before it); or, with --segment-bytes, a segmented log: a directory
    /// of sealed, immutable NDJSON segments (`LOG/<first seq, 20 digits>.ndjson`) plus one
    /// active segment, rolled by the settings given here (stored in LOG/ndlog.json for every
    /// writer; with --chain too, one hash chain runs through every segment). Every command takes
    /// it as LOG.
    #[command(after_help = EXIT_CODES)]
    Create(cmd::create::Args),
    /// List the segments of a segmented log: file, seq and time range, records, bytes, sealed.
    #[command(after_help = EXIT_CODES)]
    Segments(cmd::segments::Args),
    /// Append one record per JSON value read from stdin (one per line); print each assigned
    /// seq on stdout once the record is durable under the chosen durability.
    #[command(after_help = EXIT_CODES)]
    Append(cmd::append::Args),
    /// Print valid records (whole lines, or payloads with --data), skipping damage.
    #[command(after_help = EXIT_CODES)]
    Cat(cmd::cat::Args),
    /// Check every line; report valid records, corrupt lines with their byte offsets, and the
    /// torn tail. Exits 3 when anything is damaged.
    #[command(after_help = EXIT_CODES)]
    Verify(cmd::verify::Args),
    /// Summarise a log: records, seq and time range, sizes, damage.
    #[command(after_help = EXIT_CODES)]
    Stats(cmd::stats::Args),
    /// Print the last records, found from the end without a scan; -f waits for more.
    #[command(after_help = EXIT_CODES)]
    Tail(cmd::tail::Args),
    /// Publish every record after a cursor to NATS JetStream, in seq order, one message per
    /// record with Nats-Msg-Id ID:SEQ, so that the stream holds each record exactly once
    /// across crashes and restarts of ship or the server; the cursor advances only past
    /// records JetStream acknowledged. Follows the log until SIGINT/SIGTERM, or exits once
    /// caught up with --once. Retries a lost server with backoff (one stderr line per outage).
    #[cfg(feature = "ship")]
    #[command(after_help = EXIT_CODES)]
    Ship(cmd::ship::Args),
    /// Print one record by seq, found through the index (or a binary search of the log).
    #[command(after_help = EXIT_CODES)]
    Get(cmd::get::Args),
    /// Print the versions of one entity (records whose data has it at a JSON pointer), or its
    /// state at a time with --at.
    #[command(after_help = EXIT_CODES)]
    History(cmd::history::Args),
    /// Bring the sidecar index LOG.idx up to date; --check compares it with the log, --rebuild
    /// writes it anew.
    #[command(after_help = EXIT_CODES)]
    Index(cmd::index::Args),
    /// Rewrite the log by a retention or key policy, while writers keep appending; damaged
    /// lines move to LOG.quarantine. Without a policy it only removes damage; a compaction that
    /// would remove nothing leaves the file alone.
    #[command(after_help = EXIT_CODES)]
    Compact(cmd::compact::Args),
    /// Import a file (or - for stdin): plain NDJSON appended as new records in batches, or an
    /// ndlog log imported verbatim with its seqs and timestamps. All of the input is checked
    /// before anything is written.
    #[command(after_help = EXIT_CODES)]
    Import(cmd::import::Args),
    /// Write the verified records (or with --data their payloads) as plain NDJSON, optionally
    /// a seq or time range, to stdout or a file.
    #[command(after_help = EXIT_CODES)]
    Export(cmd::export::Args),
    /// Compare two copies of a chained log: print the last common seq (the fork point); exit 0
    /// when one is a prefix of the other, 3 when they fork. Binary search over the index (and a
    /// segmented log's segment names); either copy may be a file or a segmented log. It compares
    /// the chain values each copy stores without recomputing them: run `verify --chain` on a
    /// copy you do not trust first.
    #[command(after_help = EXIT_CODES)]
    Diverge(cmd::diverge::Args),
    /// Print an entity's versions in a chained log, each marked ok or BROKEN by its chain link,
    /// and a final line for the whole chain up to the newest version (exit 3 when broken).
    #[command(after_help = EXIT_CODES)]
    Provenance(cmd::provenance::Args),
    /// Print a chained log's checkpoint: its id, last seq and chain value, for
    /// `verify --chain --checkpoint FILE` to prove later that the log still extends it. An
    /// append a crash cut short after the last record is left out, with a note; a damaged line
    /// there that held an acknowledged record (a sync covered it) is refused (exit 3).
    #[command(after_help = EXIT_CODES)]
    Checkpoint(cmd::checkpoint::Args),
    /// Run a command while holding the log's writer lock (appends from every process wait),
    /// e.g. `ndlog lock events.ndjson -- cp events.ndjson backup/`. Exits with the command's
    /// exit code, 128 + the signal when a signal ended it (5 when the lock is not acquired
    /// within --lock-timeout).
    #[command(after_help = EXIT_CODES)]
    Lock(cmd::lock::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) for ndlog.
    #[command(after_help = EXIT_CODES)]
    Completions(cmd::docs::CompletionsArgs),
    /// Print ndlog's man page (roff), or a subcommand's, generated from this help.
    #[command(after_help = EXIT_CODES)]
    Man(cmd::docs::ManArgs),
    /// Internal: one writer process of `ndlog demo`.
    #[command(hide = true)]
    DemoWriter(cmd::demo::WriterArgs),
}
