//! Reading a segmented log: one mapped [`Reader`] per segment, in seq order, checked to form
//! one log (each segment's records lie between its name and the next segment's name, with no
//! seq missing between two segments).

use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::{StdFs, Vfs};
use crate::read::{Mapped, Reader, Record};

use super::list::{Segment, list_sorted};
use super::naming::SegmentName;
use super::settings::Settings;

/// How often the directory is listed again when a segment vanishes between the listing and
/// its open (sealed by a roll, or removed by retention).
const RELISTS: usize = 20;

/// One segment of a log as mapped.
#[derive(Debug)]
pub struct Part<V: Vfs = StdFs> {
    /// Its name: first seq, and whether it was the active segment when opened.
    pub name: SegmentName,
    /// Its records.
    pub reader: Reader<Mapped<V>>,
}

impl<V: Vfs> Part<V> {
    /// The segment's file.
    pub fn path(&self) -> &Path {
        self.reader.path()
    }
}

/// A segmented log mapped for reading, as its segments were at one moment: retention may delete
/// a segment afterwards and the reader keeps reading it (the kernel keeps the mapped file).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::segments::{SegmentedReader, Settings};
/// let path = dir.path().join("events");
/// let settings = Settings { segment_records: Some(10), ..Settings::new(2 << 20) };
/// let writer = ndlog::Options::new().segments(settings).open(&path)?;
/// for n in 0..25 {
///     writer.append(&serde_json::json!({ "n": n }))?;
/// }
/// let log = SegmentedReader::open(&path)?;
/// assert_eq!(log.parts().len(), 3);
/// assert_eq!(log.records().count(), 25);
/// assert_eq!(log.get(17).unwrap().data, br#"{"n":16}"#);
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct SegmentedReader<V: Vfs = StdFs> {
    vfs: V,
    dir: PathBuf,
    parts: Vec<Part<V>>,
}

impl SegmentedReader<StdFs> {
    /// Maps every segment of the log directory `dir`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::NotALog`] naming the file for a directory that is not a segmented
    /// log, or segments that do not form one log (overlapping, or seqs missing between two);
    /// [`crate::ErrorKind::Io`] when a file cannot be read.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_in(StdFs, dir)
    }
}

impl<V: Vfs> SegmentedReader<V> {
    /// Maps every segment of the log directory `dir` on the file system `vfs`.
    ///
    /// # Errors
    /// As [`SegmentedReader::open`].
    pub fn open_in(vfs: V, dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        Settings::load(&vfs, dir)?;
        let mut tries = 0;
        let parts = loop {
            match open_parts(&vfs, &list_sorted(&vfs, dir)?) {
                Ok(parts) => break parts,
                Err(Some(e)) => return Err(e),
                Err(None) if tries < RELISTS => tries += 1,
                Err(None) => {
                    let e = io::Error::other("segments kept vanishing while being opened");
                    return Err(Error::io(dir, "open segments", e));
                }
            }
        };
        check_continuity(&parts)?;
        Ok(SegmentedReader { vfs, dir: dir.to_path_buf(), parts })
    }

    /// The file system it was opened on.
    pub fn vfs(&self) -> &V {
        &self.vfs
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segments, oldest first.
    pub fn parts(&self) -> &[Part<V>] {
        &self.parts
    }

    /// The segments, oldest first, for a caller that reads each on its own.
    pub fn into_parts(self) -> Vec<Part<V>> {
        self.parts
    }

    /// Every valid record, in seq order.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        self.parts.iter().flat_map(|p| p.reader.records())
    }

    /// The segment that holds `seq`, if any: found from the names alone (binary search).
    pub fn part_of(&self, seq: u64) -> Option<&Part<V>> {
        let i = self.parts.partition_point(|p| p.name.first_seq <= seq);
        i.checked_sub(1).map(|i| &self.parts[i])
    }

    /// The record with sequence number `seq`: its segment by name, then that segment's index.
    pub fn get(&self, seq: u64) -> Option<Record<'_>> {
        self.part_of(seq)?.reader.get(seq)
    }

    /// The first record.
    pub fn first(&self) -> Option<Record<'_>> {
        self.parts.iter().find_map(|p| p.reader.records().next())
    }

    /// The last record.
    pub fn last(&self) -> Option<Record<'_>> {
        self.parts.iter().rev().find_map(|p| p.reader.last())
    }
}

/// Maps each segment; `Err(None)` when one vanished (list again), `Err(Some(_))` for an error.
fn open_parts<V: Vfs>(
    vfs: &V,
    segments: &[Segment],
) -> std::result::Result<Vec<Part<V>>, Option<Error>> {
    let mut parts = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        match Reader::open_in(vfs.clone(), &segment.path) {
            Ok(mut reader) => {
                // A sealed segment never changes: its map is all the reader needs, and a log
                // of more segments than `ulimit -n` can be read.
                if !segment.name.active {
                    reader.close_file();
                }
                parts.push(Part { name: segment.name, reader });
            }
            // Retention removed an old segment: the log starts later now.
            Err(e) if e.is_not_found() && !segment.name.active && i + 1 < segments.len() => {
                if parts.is_empty() {
                    continue;
                }
                return Err(None);
            }
            // A roll sealed the active segment (renamed it): list again.
            Err(e) if e.is_not_found() => return Err(None),
            Err(e) => return Err(Some(e)),
        }
    }
    Ok(parts)
}

/// What the continuity check needs of one segment: its name, its file, and the seqs of its
/// first and last records.
struct Ends<'a> {
    name: SegmentName,
    path: &'a Path,
    first: Option<u64>,
    last: Option<u64>,
}

impl<'a, V: Vfs> From<&'a Part<V>> for Ends<'a> {
    fn from(part: &'a Part<V>) -> Self {
        let first = part.reader.records().next().map(|r| r.seq);
        Ends { name: part.name, path: part.path(), first, last: part.reader.last().map(|r| r.seq) }
    }
}

/// Each segment's records lie at or above its name's seq and below the next segment's, and
/// a sealed segment ends just before the next one starts.
fn check_continuity<V: Vfs>(parts: &[Part<V>]) -> Result<()> {
    let ends: Vec<Ends<'_>> = parts.iter().map(Ends::from).collect();
    ends.iter().try_for_each(check_name)?;
    ends.windows(2).try_for_each(|pair| check_pair(&pair[0], &pair[1]))
}

/// [`SegmentedReader::open`]'s check that `segments` form one log, one segment mapped at a
/// time (a compaction of a log of thousands of segments must not hold a file open for each):
/// each is opened, its first and last records read, and closed.
pub(crate) fn check_segments<V: Vfs>(vfs: &V, segments: &[Segment]) -> Result<()> {
    let mut previous: Option<Ends<'_>> = None;
    for segment in segments {
        let reader = Reader::open_in(vfs.clone(), &segment.path)?;
        let first = reader.records().next().map(|r| r.seq);
        let last = reader.last().map(|r| r.seq);
        drop(reader);
        let ends = Ends { name: segment.name, path: &segment.path, first, last };
        check_name(&ends)?;
        if let Some(before) = &previous {
            check_pair(before, &ends)?;
        }
        previous = Some(ends);
    }
    Ok(())
}

/// A file whose first record is below its name is at fault, whatever its neighbours hold.
fn check_name(part: &Ends<'_>) -> Result<()> {
    match part.first.filter(|&f| f < part.name.first_seq) {
        Some(first) => Err(Error::not_a_log(
            part.path,
            format!(
                "it holds seq {first}, below the seq {} its name starts at",
                part.name.first_seq
            ),
        )),
        None => Ok(()),
    }
}

/// Two segments in a row: the second starts after the first's last record, and one that holds
/// nothing where no roll would have made it is a stray.
fn check_pair(part: &Ends<'_>, next: &Ends<'_>) -> Result<()> {
    let next_first = next.name.first_seq;
    // Not a segment a roll made: a roll seals only a segment that holds records, and names
    // the next one right after the last record before it.
    let stray = |why: String| {
        let why = format!("{why}: a stray file; move it out of the log directory");
        Err(Error::not_a_log(next.path, why))
    };
    let next_empty = next.last.is_none();
    if part.name.active && !next.name.active && next_empty {
        return stray(format!(
            "a sealed segment that holds no record, after the active segment {}",
            part.path.display()
        ));
    }
    let Some(last) = part.last else { return Ok(()) };
    if last >= next_first && next_empty {
        return stray(format!(
            "it holds no record, and its name's seq {next_first} lies inside the segment before \
             it (seqs {}..={last})",
            part.name.first_seq
        ));
    }
    if last >= next_first {
        return Err(Error::not_a_log(
            part.path,
            format!(
                "it holds seq {last}, which the next segment's name claims ({next_first}): {} \
                 starts inside this segment; move the one that is not the log's out of the log \
                 directory",
                next.path.display()
            ),
        ));
    }
    Ok(())
}

/// Seqs missing between two segments, as [`SegmentedReader::gaps`] reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The segment after which they are missing.
    pub after: PathBuf,
    /// The first and last seq missing.
    pub seqs: (u64, u64),
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: seqs {}..={} are missing after this segment: its last record is damaged \
             (`ndlog verify` shows where), or a segment file was removed by something other \
             than ndlog (retention removes only the oldest segments); restore it from a copy",
            self.after.display(),
            self.seqs.0,
            self.seqs.1
        )
    }
}

impl<V: Vfs> SegmentedReader<V> {
    /// Seqs missing between consecutive segments. A sealed segment ends just before the next
    /// one starts (writers roll so, retention removes whole segments from the front, and key
    /// compaction keeps each segment's last record), so a gap means damage or a lost file. The
    /// reader still reads what is there.
    pub fn gaps(&self) -> Vec<Gap> {
        let mut gaps = Vec::new();
        for pair in self.parts.windows(2) {
            let last = pair[0].reader.last().map_or(pair[0].name.first_seq - 1, |r| r.seq);
            let next = pair[1].name.first_seq;
            if last + 1 < next {
                gaps.push(Gap { after: pair[0].path().to_path_buf(), seqs: (last + 1, next - 1) });
            }
        }
        gaps
    }
}
