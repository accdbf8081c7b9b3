//! The integration tests, one module per promise, built as one binary: forty binaries that
//! each linked the library took most of CI's build time. Two stay apart: `tests/alloc.rs`,
//! whose counting allocator must see no other test's allocations, and `tests/consume_async.rs`,
//! which needs the `tokio` feature. A test that runs this binary again as a child process names
//! itself with its module (`conditional_append::child_waits_inside_a_transaction`).

mod util;

mod bad_input;
mod chain;
mod chain_crash;
mod chain_parallel;
mod cli;
mod cli_errors;
mod cli_import;
mod cli_output;
mod compact;
mod conditional_append;
mod consume_cursor;
mod corruption;
mod crash_sigkill;
mod crash_states;
mod cursor_crash;
mod dedup;
mod durable_damage;
mod durable_end;
mod entity_versions;
mod follow;
mod fsync_poison;
mod fuzz_corpus;
mod hostile_input;
mod index;
mod interop;
mod io_errors;
mod legacy_import;
mod multiprocess_append;
mod security;
mod segments_chain;
mod segments_chain_crash;
mod segments_cli;
mod segments_lib;
mod segments_soak;
#[cfg(feature = "ship")]
mod ship;
#[cfg(feature = "ship")]
mod ship_crash;
mod side_files;
mod soak;
mod tombstones;
mod torn_tail;
mod verify_split;
mod watermark;
mod write_marks;
