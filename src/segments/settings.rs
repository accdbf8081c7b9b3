//! A segmented log's settings: how every writer, in any process, rolls the active segment.
//! They live in `LOG/ndlog.json`, written once when the log is created (atomically), and are
//! checked whenever they are read, so that a hand-edited file cannot make writers misbehave.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::naming::SETTINGS;
use crate::error::{Error, IoContext, Result};
use crate::format::MAX_FRAME_OVERHEAD;
use crate::fs::{OpenOptions, Vfs, VfsFile, atomic_write_in};

/// What the settings file says it is.
const FORMAT: &str = "ndlog segmented log";
/// The settings version this build writes and reads.
const VERSION: u32 = 1;
/// Largest segment accepted: a segment is rewritten whole by key compaction.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 40;
/// A settings file is a few hundred bytes; a larger one is not ndlog's.
const MAX_SETTINGS_BYTES: u64 = 64 << 10;

/// When a segmented log's writers seal the active segment and start the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Roll once the active segment holds this many bytes (`--segment-bytes`).
    pub segment_bytes: u64,
    /// Roll once it holds this many records (`--segment-records`).
    pub segment_records: Option<u64>,
    /// Roll once its first record is this old (`--segment-age`).
    pub segment_age: Option<Duration>,
    /// Create each segment at its full size, filled with newlines, and write records in place
    /// (`--preallocate`).
    pub preallocate: bool,
}

/// The settings file's JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    version: u32,
    segment_bytes: u64,
    segment_records: Option<u64>,
    segment_age_ms: Option<u64>,
    preallocate: bool,
}

impl Settings {
    /// Segments of `segment_bytes`, rolled by size alone, not preallocated.
    pub fn new(segment_bytes: u64) -> Self {
        Settings { segment_bytes, segment_records: None, segment_age: None, preallocate: false }
    }

    /// Checks that the settings can be meant, for a log whose records may hold payloads of up
    /// to `max_record_size` bytes; the error names the command-line flag.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] naming the flag and what it must be.
    pub fn validate(&self, max_record_size: usize) -> Result<()> {
        let record = max_record_size as u64 + MAX_FRAME_OVERHEAD as u64;
        if self.segment_bytes < record || self.segment_bytes > MAX_SEGMENT_BYTES {
            return Err(Error::invalid_argument(format!(
                "--segment-bytes {} must be at least one record's limit ({record} bytes: the \
                 maximum record size {max_record_size} plus the frame) and at most {MAX_SEGMENT_BYTES}",
                self.segment_bytes
            )));
        }
        if self.segment_records == Some(0) {
            return Err(Error::invalid_argument("--segment-records must be at least 1"));
        }
        if self.segment_age.is_some_and(|age| age.as_millis() == 0) {
            return Err(Error::invalid_argument("--segment-age must be at least 1 ms"));
        }
        Ok(())
    }

    /// Writes the settings into the log directory `dir` (`dir/ndlog.json`), atomically.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] for settings that no writer could honour (see
    /// [`Settings::validate`]; [`crate::segments::create`] checks them against the record
    /// size limit its writers use); [`crate::ErrorKind::Io`] naming the file.
    pub fn store<V: Vfs>(&self, vfs: &V, dir: &Path, mode: u32) -> Result<()> {
        self.validate(1)?;
        atomic_write_in(vfs, &dir.join(SETTINGS), &self.to_json(), mode)
    }

    /// Reads the settings of the log directory `dir`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::NotALog`] naming the file when it is missing, damaged or written by
    /// a newer ndlog; [`crate::ErrorKind::Io`] when it cannot be read.
    pub fn load<V: Vfs>(vfs: &V, dir: &Path) -> Result<Settings> {
        let path = dir.join(SETTINGS);
        let file = match vfs.open(&path, OpenOptions::read().no_follow()) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let names = vfs.list_dir(dir).unwrap_or_default();
                if names.iter().any(|n| super::naming::parse(n).is_some()) {
                    let why = format!(
                        "it holds segments but no ndlog.json, the settings every command reads \
                         first; do not remove it: {}",
                        write_it_back(&path)
                    );
                    return Err(Error::not_a_log(dir, why));
                }
                let why = "it is a directory, but not a segmented ndlog log: it has no \
                           ndlog.json (`ndlog create LOG --segment-bytes SIZE` makes one)";
                return Err(Error::not_a_log(dir, why));
            }
            Err(e) => return Err(Error::io(&path, "open", e)),
        };
        let len = file.metadata().at(&path, "fstat")?.len;
        if len > MAX_SETTINGS_BYTES {
            return Err(Error::not_a_log(
                &path,
                format!("settings file of {len} bytes is too large"),
            ));
        }
        let mut bytes = vec![0u8; len as usize];
        crate::fs::read_exact_at(&file, &mut bytes, 0).at(&path, "read")?;
        Settings::from_json(&bytes, &path)
    }

    /// The settings as the file holds them.
    fn to_json(self) -> Vec<u8> {
        let file = File {
            format: FORMAT.to_string(),
            version: VERSION,
            segment_bytes: self.segment_bytes,
            segment_records: self.segment_records,
            segment_age_ms: self
                .segment_age
                .map(|a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX)),
            preallocate: self.preallocate,
        };
        let mut out = serde_json::to_vec_pretty(&file).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Reads the settings file's bytes; `what` names the file in errors.
    fn from_json(bytes: &[u8], what: &Path) -> Result<Settings> {
        let bad = |why: String| {
            let fix = write_it_back(what);
            Error::not_a_log(
                what,
                format!("bad settings file: {why}; the segments beside it are not affected: {fix}"),
            )
        };
        let file: File = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if file.format != FORMAT {
            return Err(bad(format!("format is {:?}, not {FORMAT:?}", file.format)));
        }
        if file.version != VERSION {
            let who = match file.version > VERSION {
                true => "a newer ndlog wrote it",
                false => "no ndlog writes that version",
            };
            return Err(bad(format!(
                "version {} (this ndlog reads version {VERSION}; {who})",
                file.version
            )));
        }
        let settings = Settings {
            segment_bytes: file.segment_bytes,
            segment_records: file.segment_records,
            segment_age: file.segment_age_ms.map(Duration::from_millis),
            preallocate: file.preallocate,
        };
        // Settings that no writer could honour, whatever its record size limit, are damage
        // (said in the file's own terms: no command-line flag was given).
        let smallest = 1 + MAX_FRAME_OVERHEAD as u64;
        if !(smallest..=MAX_SEGMENT_BYTES).contains(&file.segment_bytes) {
            return Err(bad(format!(
                "segment_bytes {} is not between {smallest} (one record of one byte and its \
                 frame) and {MAX_SEGMENT_BYTES}",
                file.segment_bytes
            )));
        }
        if file.segment_records == Some(0) {
            return Err(bad("segment_records is 0 (at least 1, or null)".to_string()));
        }
        if file.segment_age_ms == Some(0) {
            return Err(bad("segment_age_ms is 0 (at least 1, or null)".to_string()));
        }
        settings.validate(1).map_err(|e| bad(e.to_string()))?;
        Ok(settings)
    }
}

/// How to give a segmented log its settings back (`ndlog create` refuses a directory that
/// exists): by hand, as `ndlog create` writes them.
fn write_it_back(path: &Path) -> String {
    let example = Settings::new(64 << 20).to_json();
    let example: serde_json::Value = serde_json::from_slice(&example).unwrap_or_default();
    format!(
        "write {} as `ndlog create` does, with the log's settings, e.g. {example} \
         (segment_bytes at least the largest segment's size)",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_settings_file_no_writer_could_honour_is_named_in_its_own_terms() {
        let file = |bytes: u64, records: &str, age: &str| {
            format!(
                r#"{{"format":"{FORMAT}","version":{VERSION},"segment_bytes":{bytes},"segment_records":{records},"segment_age_ms":{age},"preallocate":false}}"#
            )
        };
        let path = Path::new("/l/ndlog.json");
        for (json, said) in [
            (file(1, "null", "null"), "segment_bytes 1 is not between 158"),
            (file(2 << 40, "null", "null"), "segment_bytes 2199023255552 is not between"),
            (file(64 << 20, "0", "null"), "segment_records is 0"),
            (file(64 << 20, "null", "0"), "segment_age_ms is 0"),
        ] {
            let e = Settings::from_json(json.as_bytes(), path).unwrap_err().to_string();
            assert!(e.contains(said) && !e.contains("--segment"), "{e}");
        }
        assert!(Settings::from_json(file(64 << 20, "null", "null").as_bytes(), path).is_ok());
    }

    #[test]
    fn settings_round_trip_through_the_file() {
        let s = Settings {
            segment_bytes: 64 << 20,
            segment_records: Some(10_000),
            segment_age: Some(Duration::from_secs(3600)),
            preallocate: true,
        };
        let json = s.to_json();
        assert_eq!(Settings::from_json(&json, Path::new("ndlog.json")).unwrap(), s);
        let text = String::from_utf8(json).unwrap();
        assert!(text.contains("\"segment_bytes\": 67108864"), "{text}");
    }

    #[test]
    fn nonsense_is_refused_naming_the_flag() {
        let limit = 1 << 20;
        let too_small = Settings::new(1000).validate(limit).unwrap_err().to_string();
        assert!(too_small.contains("--segment-bytes 1000"), "{too_small}");
        assert!(
            Settings::new(0).validate(limit).unwrap_err().to_string().contains("--segment-bytes")
        );
        let zero = Settings { segment_records: Some(0), ..Settings::new(64 << 20) };
        assert!(zero.validate(limit).unwrap_err().to_string().contains("--segment-records"));
        let age = Settings { segment_age: Some(Duration::ZERO), ..Settings::new(64 << 20) };
        assert!(age.validate(limit).unwrap_err().to_string().contains("--segment-age"));
        assert!(Settings::new(64 << 20).validate(limit).is_ok());
    }

    #[test]
    fn settings_are_stored_atomically_and_loaded_back() {
        let fs = crate::sim::SimFs::new(3);
        fs.put("/log/.keep", b"");
        let dir = Path::new("/log");
        let err = Settings::load(&fs, dir).unwrap_err().to_string();
        assert!(err.contains("has no ndlog.json"), "{err}");
        let s = Settings { segment_records: Some(5), ..Settings::new(8 << 20) };
        s.store(&fs, dir, 0o644).unwrap();
        assert_eq!(Settings::load(&fs, dir).unwrap(), s);
        assert!(Settings::new(10).store(&fs, dir, 0o644).is_err(), "refused before writing");
        assert_eq!(Settings::load(&fs, dir).unwrap(), s);
    }

    #[test]
    fn a_damaged_or_foreign_settings_file_is_refused() {
        let p = Path::new("LOG/ndlog.json");
        for bytes in [
            &b"{}"[..],
            b"not json",
            br#"{"format":"x","version":1,"segment_bytes":100000,"segment_records":null,"segment_age_ms":null,"preallocate":false}"#,
            br#"{"format":"ndlog segmented log","version":2,"segment_bytes":100000,"segment_records":null,"segment_age_ms":null,"preallocate":false}"#,
            br#"{"format":"ndlog segmented log","version":1,"segment_bytes":0,"segment_records":null,"segment_age_ms":null,"preallocate":false}"#,
            br#"{"format":"ndlog segmented log","version":1,"segment_bytes":100000,"segment_records":null,"segment_age_ms":null,"preallocate":false,"extra":1}"#,
        ] {
            let err = Settings::from_json(bytes, p).unwrap_err().to_string();
            assert!(err.contains("LOG/ndlog.json") && err.contains("ndlog create"), "{err}");
        }
    }
}
