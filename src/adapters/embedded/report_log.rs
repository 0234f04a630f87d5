//! The bodies of stored metric reports: one append-only file per application beside the
//! store (`rohe.db` -> `rohe.reports/<app_id>.log`), while the metrics file keeps one small row
//! per report (ids, times, and where its body is in the log).
//!
//! Why not in SQLite with the rest: in WAL mode SQLite writes every byte twice, once into the
//! WAL and again into the database at the checkpoint (reading it back in between), and every
//! WAL frame is checksummed. For 2-3 KB reports that was half of the agent's time (BENCHMARKS.md).
//! A log takes each body once, in one `write` per batch.
//!
//! A record is an 8-byte header, the body's length and its CRC-32 (both little-endian u32),
//! then the body. Records are written only while the metrics file's write lock is held (inside
//! the batch's `BEGIN IMMEDIATE` transaction), so writers from several processes never
//! interleave, and before that transaction commits, so a committed row always points at a
//! written record. A crash in between leaves a record no row points at; later appends go after
//! it. With `sync: full` the log is flushed to disk before the commit; with the default, as for
//! SQLite's own WAL, a power loss can lose the last records, and a row whose record did not
//! reach the disk is reported as unreadable and skipped by queries (the CRC tells).

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes before each body.
pub const HEADER_BYTES: usize = 8;

/// Where the report bodies of the store at `path` live: `rohe.db` -> `rohe.reports/`.
pub fn reports_dir(path: &Path) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{stem}.reports"))
}

/// Append `body` as one record to `buf`; returns the record's offset in `buf`.
pub fn encode(buf: &mut Vec<u8>, body: &[u8]) -> Result<u64> {
    let len = u32::try_from(body.len()).map_err(|_| {
        Error::invalid(format!(
            "a metric report of {} bytes is too large to store",
            body.len()
        ))
    })?;
    let at = buf.len() as u64;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    buf.extend_from_slice(body);
    Ok(at)
}

/// The per-application logs of one store, with the files being appended to kept open.
pub struct ReportLogs {
    dir: PathBuf,
    /// Open for appending: the file, and the (device, inode) it was opened as.
    open: HashMap<uuid::Uuid, (File, (u64, u64))>,
}

impl ReportLogs {
    pub fn new(dir: PathBuf) -> ReportLogs {
        ReportLogs {
            dir,
            open: HashMap::new(),
        }
    }

    pub fn path(&self, app_id: uuid::Uuid) -> PathBuf {
        self.dir.join(format!("{app_id}.log"))
    }

    fn io_err(&self, app_id: uuid::Uuid, what: &str, e: std::io::Error) -> Error {
        Error::runtime(format!(
            "cannot {what} the report log {}: {e}",
            self.path(app_id).display()
        ))
        .hint("check the free space and permissions of the store's directory (store.path)")
    }

    /// Append `records` (made with [`encode`]) to the application's log; returns the offset of
    /// their first byte. Call with the metrics file's write lock held.
    pub fn append(&mut self, app_id: uuid::Uuid, records: &[u8], sync: bool) -> Result<u64> {
        let path = self.path(app_id);
        // Another process may have purged the application (removing its log) since this one
        // opened it: appending to the removed file would lose the records.
        let current = std::fs::metadata(&path).ok().map(|m| (m.dev(), m.ino()));
        let stale = match self.open.get(&app_id) {
            Some((_, id)) => current != Some(*id),
            None => true,
        };
        if stale {
            self.open.remove(&app_id);
            std::fs::create_dir_all(&self.dir).map_err(|e| self.io_err(app_id, "create", e))?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| self.io_err(app_id, "open", e))?;
            let m = file
                .metadata()
                .map_err(|e| self.io_err(app_id, "inspect", e))?;
            self.open.insert(app_id, (file, (m.dev(), m.ino())));
        }
        let Some((file, _)) = self.open.get(&app_id) else {
            return Err(Error::runtime("the report log was not opened"));
        };
        // After whatever is there, a record a crashed writer left included.
        let at = file
            .metadata()
            .map_err(|e| self.io_err(app_id, "inspect", e))?
            .len();
        let written = file
            .write_all_at(records, at)
            .and_then(|()| if sync { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // Whatever part did land is never pointed at; appends go after it.
            self.open.remove(&app_id);
            return Err(self.io_err(app_id, "write", e));
        }
        Ok(at)
    }

    /// Remove the application's log. Call with the metrics file's write lock held.
    pub fn remove(&mut self, app_id: uuid::Uuid) -> Result<()> {
        self.open.remove(&app_id);
        match std::fs::remove_file(self.path(app_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(self.io_err(app_id, "remove", e))
            }
            _ => Ok(()),
        }
    }

    /// A reader of the application's log (None when it has none).
    pub fn reader(&self, app_id: uuid::Uuid) -> Result<Option<LogReader>> {
        match File::open(self.path(app_id)) {
            Ok(file) => Ok(Some(LogReader {
                file,
                buf: Vec::new(),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_err(app_id, "open", e)),
        }
    }
}

pub struct LogReader {
    file: File,
    buf: Vec<u8>,
}

/// Why a record could not be read back.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// The log ends before the record does.
    Missing,
    /// The header does not match the row, or the body its checksum.
    Damaged,
}

impl LogReader {
    /// The body of the `len`-byte record at `at`.
    pub fn read(&mut self, at: u64, len: usize) -> std::io::Result<Result<&[u8], Unreadable>> {
        self.buf.resize(HEADER_BYTES + len, 0);
        match self.file.read_exact_at(&mut self.buf, at) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(Err(Unreadable::Missing));
            }
            r => r?,
        }
        let (header, body) = self.buf.split_at(HEADER_BYTES);
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        if word(0) as usize != len || word(4) != crc32fast::hash(body) {
            return Ok(Err(Unreadable::Damaged));
        }
        Ok(Ok(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = ReportLogs::new(dir.path().join("s.reports"));
        let app = uuid::Uuid::new_v4();
        let mut buf = Vec::new();
        let a = encode(&mut buf, b"{\"a\":1}").unwrap();
        let b = encode(&mut buf, b"").unwrap();
        let accented = "{\"é\":2}".as_bytes();
        let c = encode(&mut buf, accented).unwrap();
        let base = logs.append(app, &buf, false).unwrap();
        assert_eq!(base, 0);
        let base2 = logs.append(app, &buf, true).unwrap();
        assert_eq!(base2, buf.len() as u64);
        let mut r = logs.reader(app).unwrap().unwrap();
        assert_eq!(r.read(base2 + a, 7).unwrap(), Ok(&b"{\"a\":1}"[..]));
        assert_eq!(r.read(base + b, 0).unwrap(), Ok(&b""[..]));
        assert_eq!(r.read(base + c, accented.len()).unwrap(), Ok(accented));
        // Wrong length, past the end, a flipped byte.
        assert_eq!(r.read(base + a, 6).unwrap(), Err(Unreadable::Damaged));
        assert_eq!(
            r.read(base2 + c, accented.len() + 1).unwrap(),
            Err(Unreadable::Missing)
        );
        let path = logs.path(app);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[(base + a) as usize + HEADER_BYTES + 2] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let mut r = logs.reader(app).unwrap().unwrap();
        assert_eq!(r.read(base + a, 7).unwrap(), Err(Unreadable::Damaged));
    }

    #[test]
    fn a_log_removed_behind_an_open_handle_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ReportLogs::new(dir.path().join("s.reports"));
        let mut purger = ReportLogs::new(dir.path().join("s.reports"));
        let app = uuid::Uuid::new_v4();
        let mut buf = Vec::new();
        encode(&mut buf, b"12345").unwrap();
        writer.append(app, &buf, false).unwrap();
        purger.remove(app).unwrap();
        assert!(purger.reader(app).unwrap().is_none());
        // The writer's cached handle points at the removed file: it must not append there.
        assert_eq!(writer.append(app, &buf, false).unwrap(), 0);
        let mut r = writer.reader(app).unwrap().unwrap();
        assert_eq!(r.read(0, 5).unwrap(), Ok(&b"12345"[..]));
        purger.remove(app).unwrap();
        purger.remove(app).unwrap();
    }

    #[test]
    fn the_directory_sits_beside_the_store() {
        assert_eq!(
            reports_dir(Path::new("/d/rohe.db")),
            Path::new("/d/rohe.reports")
        );
        assert_eq!(reports_dir(Path::new("x")), Path::new("x.reports"));
    }
}
