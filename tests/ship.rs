//! placeholder
mod util;
