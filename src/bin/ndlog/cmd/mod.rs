//! One module per subcommand, each with its arguments and its `run`.

pub(crate) mod append;
pub(crate) mod cat;
pub(crate) mod checkpoint;
pub(crate) mod compact;
pub(crate) mod create;
pub(crate) mod demo;
pub(crate) mod diverge;
pub(crate) mod docs;
pub(crate) mod export;
pub(crate) mod get;
pub(crate) mod history;
pub(crate) mod import;
pub(crate) mod index;
pub(crate) mod lock;
pub(crate) mod provenance;
pub(crate) mod segments;
#[cfg(feature = "ship")]
pub(crate) mod ship;
pub(crate) mod stats;
pub(crate) mod tail;
pub(crate) mod verify;
