//! What the append, scan and report benches share: the workloads (ndlog's and the raw
//! system-call loops that bound them), a recorder of the samples criterion takes, the child mode
//! that turns a bench binary into one of several writer processes, and the summary table.
//!
//! Every workload is a function of an iteration count that returns the time the iterations took,
//! so criterion (`iter_custom`) and the report's plain timer measure exactly the same code.
//!
//! One module per concern; this file only gathers them.
#![allow(dead_code)] // each bench uses a subset
#![allow(unused_imports)] // likewise

mod alternating;
mod child;
mod files;
mod forward;
mod history;
mod lookup;
mod median;
mod payloads;
mod raw;
mod recorder;
mod scan_log;
mod scans;
mod simd_value;
mod table;
mod timer;
mod workloads;

pub(crate) use alternating::*;
pub(crate) use child::*;
pub(crate) use files::*;
pub(crate) use forward::*;
pub(crate) use history::*;
pub(crate) use lookup::*;
pub(crate) use median::*;
pub(crate) use payloads::*;
pub(crate) use raw::*;
pub(crate) use recorder::*;
pub(crate) use scan_log::*;
pub(crate) use scans::*;
pub(crate) use simd_value::*;
pub(crate) use table::*;
pub(crate) use timer::*;
pub(crate) use workloads::*;
