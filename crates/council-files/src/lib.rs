//! Files handed to councilnet from outside, read and written without trusting them.
//!
//! A path given on the command line or in a config may name a fifo (opening it blocks
//! until a writer comes, reading it never ends), a device such as `/dev/zero` (endless),
//! or a file far larger than what it should hold. [`read_small`] refuses all three with
//! an error that says what the path is; nothing is read past the limit. A temporary file
//! written next to its destination is created fresh under a random name
//! ([`AtomicFile`]), so a link planted at a predictable name (`out.partial`) is never
//! followed.
//!
//! See the crate's README.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why a file could not be read or written. The message includes the system's reason
/// (it is not also given as the error's source, so that a printed chain says it once).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open {path}: {error}")]
    Open { path: PathBuf, error: std::io::Error },
    #[error("{path} is {what}, not a regular file")]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("{path} is {len} bytes; at most {max} are expected here")]
    TooLarge { path: PathBuf, len: u64, max: u64 },
    #[error("{path} may be read by others (mode {mode:o}); run `chmod 600 {path}`")]
    Readable { path: PathBuf, mode: u32 },
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("cannot write {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
}

impl FileError {
    /// Whether the file is simply not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Open { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
    }
}

fn what(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a fifo (a named pipe)";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Opens a file to be read, refusing anything that is not a regular file. The open does
/// not block on a fifo (`O_NONBLOCK`, which changes nothing for a regular file).
pub fn open_regular(path: &Path) -> Result<File, FileError> {
    open_checked(path).map(|(f, _)| f)
}

/// [`open_regular`], with the metadata it checked.
fn open_checked(path: &Path) -> Result<(File, std::fs::Metadata), FileError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts.open(path).map_err(|error| FileError::Open { path: path.to_owned(), error })?;
    let meta = f.metadata().map_err(|error| FileError::Read { path: path.to_owned(), error })?;
    if !meta.is_file() {
        return Err(FileError::NotRegular { path: path.to_owned(), what: what(meta.file_type()) });
    }
    Ok((f, meta))
}

/// Reads a regular file of at most `max` bytes.
pub fn read_small(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let (f, meta) = open_checked(path)?;
    read_opened(path, f, &meta, max)
}

/// [`read_small`], refusing a file that anyone but its owner may read (a key, a token).
pub fn read_private(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let (f, meta) = open_checked(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(FileError::Readable { path: path.to_owned(), mode });
        }
    }
    read_opened(path, f, &meta, max)
}

fn read_opened(path: &Path, f: File, meta: &std::fs::Metadata, max: u64) -> Result<Vec<u8>, FileError> {
    let len = meta.len();
    if len > max {
        return Err(FileError::TooLarge { path: path.to_owned(), len, max });
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut buf).map_err(|error| FileError::Read { path: path.to_owned(), error })?;
    if buf.len() as u64 > max {
        // It grew while being read.
        return Err(FileError::TooLarge { path: path.to_owned(), len: buf.len() as u64, max });
    }
    Ok(buf)
}

/// [`read_small`] as UTF-8 text.
pub fn read_text(path: &Path, max: u64) -> Result<String, FileError> {
    String::from_utf8(read_small(path, max)?).map_err(|_| FileError::Read {
        path: path.to_owned(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// A file being written: a fresh temporary file beside `path` (random name, `O_EXCL`),
/// renamed over `path` by [`AtomicFile::commit`] once synced. Dropped uncommitted, the
/// temporary file is removed and `path` is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path`, readable by the owner only (`private`) or by anyone the
    /// umask allows.
    pub fn create(path: &Path, private: bool) -> Result<AtomicFile, FileError> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = format!(".{name}.");
        let mut b = tempfile::Builder::new();
        b.prefix(&prefix).suffix(".partial");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            b.permissions(std::fs::Permissions::from_mode(if private { 0o600 } else { 0o644 }));
        }
        #[cfg(not(unix))]
        let _ = private;
        let tmp = b.tempfile_in(dir).map_err(|error| FileError::Write { path: path.to_owned(), error })?;
        Ok(AtomicFile { tmp, path: path.to_owned() })
    }

    /// The file to write to.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Syncs the file, renames it over the destination, and syncs the folder.
    pub fn commit(self) -> Result<(), FileError> {
        let path = self.path;
        let werr = |error| FileError::Write { path: path.clone(), error };
        self.tmp.as_file().sync_all().map_err(werr)?;
        self.tmp.persist(&path).map_err(|e| FileError::Write { path: path.clone(), error: e.error })?;
        #[cfg(unix)]
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|error| FileError::Write { path: dir.to_owned(), error })?;
        }
        Ok(())
    }
}

/// Writes a whole file through an [`AtomicFile`].
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), FileError> {
    let mut f = AtomicFile::create(path, private)?;
    f.file().write_all(bytes).map_err(|error| FileError::Write { path: path.to_owned(), error })?;
    f.commit()
}
