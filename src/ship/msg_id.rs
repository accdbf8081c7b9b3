//! Message ids: `Nats-Msg-Id: ID:SEQ`, where ID names the log and SEQ is the record's seq.
//! JetStream drops a message whose id it stored within the stream's duplicate window, so a
//! record published twice (after an outage, or by a restarted shipper) is stored once.

use std::path::Path;

use super::error::Result;

/// The default id of the log at `log`: the host name and the log's canonical path,
/// `HOST:/PATH`, so that two hosts shipping logs at the same path into one stream, or one host
/// shipping two logs, never share a message id.
///
/// # Errors
/// [`crate::ErrorKind::Io`] naming the log when its path cannot be resolved.
pub(super) fn default_id(log: &Path) -> Result<String> {
    let path = std::fs::canonicalize(log).map_err(|e| crate::Error::io(log, "resolve", e))?;
    let host = rustix::system::uname();
    let host = host.nodename().to_string_lossy();
    // Control characters cannot go in a header; a path holding one is shown escaped.
    let path: String = path.to_string_lossy().escape_default().collect();
    Ok(format!("{host}:{path}"))
}

/// The message id of record `seq` of the log `id`.
pub(super) fn msg_id(id: &str, seq: u64) -> String {
    let mut s = String::with_capacity(id.len() + 21);
    s.push_str(id);
    s.push(':');
    s.push_str(itoa::Buffer::new().format(seq));
    s
}

/// The seq in `msg_id` when it is a message id of the log `id`.
pub(super) fn seq_of(id: &str, msg_id: &str) -> Option<u64> {
    let seq = msg_id.strip_prefix(id)?.strip_prefix(':')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seq.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let id = "host:/var/log/events.ndjson";
        assert_eq!(msg_id(id, 42), "host:/var/log/events.ndjson:42");
        assert_eq!(seq_of(id, &msg_id(id, 42)), Some(42));
        assert_eq!(seq_of(id, "host:/var/log/events.ndjson.1:42"), None);
        assert_eq!(seq_of(id, "other:/x:42"), None);
        assert_eq!(seq_of(id, "host:/var/log/events.ndjson:"), None);
        assert_eq!(seq_of(id, "host:/var/log/events.ndjson:4x"), None);
    }

    #[test]
    fn the_default_id_names_host_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("events.ndjson");
        std::fs::write(&log, b"").unwrap();
        let id = default_id(&log).unwrap();
        assert!(id.ends_with(&format!(":{}", std::fs::canonicalize(&log).unwrap().display())));
        assert!(default_id(&dir.path().join("missing")).is_err());
    }
}
