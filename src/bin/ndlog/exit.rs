//! The exit codes of every subcommand, and their text for `--help`.

/// An error: I/O, a bad input line, a lock timeout; the message on stderr says which.
pub(crate) const EXIT_ERROR: u8 = 1;
/// The log holds corrupt lines or records out of order (`verify`, `cat --strict`), or its
/// index disagrees with it (`index --check`).
pub(crate) const EXIT_DAMAGED: u8 = 3;
/// The record or entity asked for is not in the log (`get`, `history`).
pub(crate) const EXIT_NOT_FOUND: u8 = 4;

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error (I/O, bad input line, lock timeout, not an ndlog log); stderr says which
  2  bad command-line usage
  3  the log holds corrupt lines or out-of-order records (verify, cat --strict), or its
     index disagrees with it (index --check)
  4  no such record or entity (get, history)

A closed output pipe (ndlog cat LOG | head) ends the command quietly with 0.";
