//! The only code that opens files. Everything the durability layer does to a
//! disk goes through [`Disk`] and [`File`]: glommio DMA files on io_uring for
//! the real disk, or [`SimDisk`], an in-memory disk that fails on request
//! (fsync errors, out of space at a byte budget) for tests.
//!
//! Each executor that touches files holds its own [`Disk`] value (it is `Send`
//! and cheap to clone); a [`File`] stays on the core that opened it.
//!
//! * [`segment`]: [`SegmentWriter`], which carries out the `log::Flush` batches
//!   of the group-commit policy: create and preallocate a segment, one aligned
//!   write, fdatasync, directory fsync.
//! * [`recover`]: startup recovery over `dataDir`/`dataLogDir`: list, plan, read
//!   the newest snapshot and the log after it, cut torn tails, replay.
//! * [`snapshot`]: writing a snapshot (temp name, fdatasync, rename, directory
//!   fsync) and purging old files.
//!
//! # The contract with `log`
//!
//! The pure `log` module decides what to write and where; this module writes
//! exactly that. A batch is written in one piece at its offset (both multiples
//! of 4096, so O_DIRECT can take them as they are), and only then synced; the
//! next batch is handed out only after `flush_done`. A short write or ENOSPC /
//! EDQUOT from a write or a preallocation is "out of space" (the same batch is
//! written again later); any other error, and any fsync error, is fail-stop.

pub mod epoch;
pub mod recover;
pub mod segment;
mod sim;
pub mod snapshot;
pub mod surgery;

use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use std::os::unix::io::AsRawFd;

use glommio::io::{DmaFile, OpenOptions};

pub use recover::{recover, Recovered, StartupError, RECOVERY_PREEMPT};
pub use segment::SegmentWriter;
pub use sim::{SimDisk, SimFaults};
pub use snapshot::{purge, write_snapshot, SnapshotWritten};

/// Bytes read from a file per read call while reading a whole file.
const READ_CHUNK_BYTES: usize = 8 << 20;

/// Bytes per piece of a file read in pieces ([`Disk::read_pieces`]).
const READ_PIECE_BYTES: usize = 1 << 20;

/// Pieces read ahead of the one being consumed: the disk keeps reading while
/// the caller works on a piece.
const READ_AHEAD_PIECES: usize = 8;

/// Pieces a simulated disk hands out (small, so tests cross many boundaries).
const SIM_PIECE_BYTES: usize = 64 << 10;

/// Where files live: the machine's disk, or a simulated one.
#[derive(Clone, Debug, Default)]
pub enum Disk {
    /// The real file system, through glommio DMA files (io_uring, O_DIRECT).
    #[default]
    Real,
    /// An in-memory disk for tests, with injected faults.
    Sim(SimDisk),
}

/// An open file of a [`Disk`]. Lives on the core that opened it.
pub enum File {
    /// A glommio DMA file.
    Real(DmaFile),
    /// A file of a simulated disk.
    Sim(sim::SimFile),
}

/// How a log batch is written and made durable (see tuning/RESULTS.md for
/// what each costs here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteSync {
    /// A write, then an fdatasync, both through io_uring.
    OnFdatasync,
    /// A pwrite then an fdatasync as plain system calls on the executor's
    /// blocking thread ([`File::write_then_fdatasync`]).
    BlockingFdatasync,
    /// O_DSYNC writes through io_uring: each write is durable when it returns.
    EveryWrite,
}

impl WriteSync {
    fn open_flags(self) -> libc::c_int {
        match self {
            WriteSync::OnFdatasync | WriteSync::BlockingFdatasync => 0,
            WriteSync::EveryWrite => libc::O_DSYNC,
        }
    }
}

/// A whole file read into memory.
pub struct FileBytes(Vec<u8>);

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Whether an error means the disk (or the quota) is full: the write can be
/// tried again once space returns. Everything else is fail-stop.
pub fn is_out_of_space(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// Converts a glommio error into an `io::Error` that keeps the kind of the
/// OS error (so [`is_out_of_space`] can see ENOSPC) and glommio's description
/// (operation and path).
fn from_glommio(error: glommio::GlommioError<()>) -> io::Error {
    let kind = match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code).kind(),
        None => return error.into(),
    };
    io::Error::new(kind, error.to_string())
}

/// An error about `path`, for messages a person can act on.
fn at_path(error: io::Error, op: &str, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{op} {}: {error}", path.display()))
}

/// Runs blocking metadata work (listing, renaming, removing: what io_uring and
/// glommio do not cover) on the executor's blocking thread pool.
async fn blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    glommio::executor().spawn_blocking(work).await
}

impl Disk {
    /// Creates `dir` and its parents; fsyncs the parent of each directory made
    /// so the new names are durable.
    pub async fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        match self {
            Disk::Sim(sim) => {
                sim.create_dir_all(dir);
                Ok(())
            }
            Disk::Real => {
                let mut missing = Vec::new();
                let mut at = Some(dir);
                while let Some(path) = at {
                    if path.as_os_str().is_empty() || path.is_dir() {
                        break;
                    }
                    missing.push(path.to_path_buf());
                    at = path.parent();
                }
                for path in missing.into_iter().rev() {
                    let made = path.clone();
                    blocking(move || std::fs::create_dir(&made))
                        .await
                        .or_else(|e| match e.kind() {
                            io::ErrorKind::AlreadyExists => Ok(()),
                            _ => Err(e),
                        })
                        .map_err(|e| at_path(e, "cannot create directory", &path))?;
                    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                        self.sync_dir(parent).await?;
                    }
                }
                Ok(())
            }
        }
    }

    /// The regular files directly in `dir`, with their sizes; empty if `dir`
    /// does not exist.
    pub async fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64)>> {
        match self {
            Disk::Sim(sim) => Ok(sim.list(dir)),
            Disk::Real => {
                let owned = dir.to_path_buf();
                blocking(move || list_dir(&owned))
                    .await
                    .map_err(|e| at_path(e, "cannot list", dir))
            }
        }
    }

    /// Reads a whole file.
    pub async fn read_all(&self, path: &Path) -> io::Result<FileBytes> {
        match self {
            Disk::Sim(sim) => sim.read(path).map(FileBytes),
            Disk::Real => read_real(path)
                .await
                .map(FileBytes)
                .map_err(|e| at_path(e, "cannot read", path)),
        }
    }

    /// Opens a file to read it whole, in pieces, in order, with
    /// [`READ_AHEAD_PIECES`] reads in flight: the caller works on one piece
    /// while the next ones are read, and holds only the pieces in flight.
    pub async fn read_pieces(&self, path: &Path) -> io::Result<PieceReader> {
        match self {
            Disk::Sim(sim) => {
                let bytes = sim.read(path)?;
                Ok(PieceReader {
                    len: bytes.len() as u64,
                    source: Pieces::Sim { bytes, at: 0 },
                })
            }
            Disk::Real => {
                let opened = async {
                    let file = DmaFile::open(path).await.map_err(from_glommio)?;
                    match file.file_size().await.map_err(from_glommio) {
                        Ok(len) => Ok((file, len)),
                        Err(error) => {
                            let _ = file.close().await;
                            Err(error)
                        }
                    }
                };
                let (file, len) = opened.await.map_err(|e| at_path(e, "cannot read", path))?;
                Ok(PieceReader {
                    len,
                    source: Pieces::Real {
                        file: std::rc::Rc::new(file),
                        path: path.to_path_buf(),
                        next_read_at: 0,
                        in_flight: std::collections::VecDeque::new(),
                    },
                })
            }
        }
    }

    /// Reads at most `len` bytes from the start of a file.
    pub async fn read_prefix(&self, path: &Path, len: usize) -> io::Result<Vec<u8>> {
        match self {
            Disk::Sim(sim) => sim.read(path).map(|mut bytes| {
                bytes.truncate(len);
                bytes
            }),
            Disk::Real => {
                let file = DmaFile::open(path).await.map_err(from_glommio)?;
                let read = file.read_at(0, len).await.map_err(from_glommio);
                let _ = file.close().await;
                Ok(read?.to_vec())
            }
        }
    }

    /// Creates (or truncates) a file for writing.
    pub async fn create(&self, path: &Path) -> io::Result<File> {
        self.create_with(path, WriteSync::OnFdatasync).await
    }

    /// Creates (or truncates) a file for writing, with writes synced as `sync` says.
    pub async fn create_with(&self, path: &Path, sync: WriteSync) -> io::Result<File> {
        match self {
            Disk::Sim(sim) => sim
                .create(path, sync == WriteSync::EveryWrite)
                .map(File::Sim),
            Disk::Real => {
                probe_device_once(path).await;
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .custom_flags(sync.open_flags())
                    .dma_open(path)
                    .await
                    .map(File::Real)
                    .map_err(from_glommio)
            }
        }
    }

    /// Opens an existing file for writing (to cut a torn tail).
    pub async fn open_write(&self, path: &Path) -> io::Result<File> {
        self.open_write_with(path, WriteSync::OnFdatasync).await
    }

    /// Opens an existing file for writing, with writes synced as `sync` says.
    pub async fn open_write_with(&self, path: &Path, sync: WriteSync) -> io::Result<File> {
        match self {
            Disk::Sim(sim) => sim.open(path, sync == WriteSync::EveryWrite).map(File::Sim),
            Disk::Real => {
                probe_device_once(path).await;
                OpenOptions::new()
                    .write(true)
                    .custom_flags(sync.open_flags())
                    .dma_open(path)
                    .await
                    .map(File::Real)
                    .map_err(from_glommio)
            }
        }
    }

    /// Renames a file (within one directory); the caller syncs the directory.
    pub async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match self {
            Disk::Sim(sim) => sim.rename(from, to),
            Disk::Real => {
                let (a, b) = (from.to_path_buf(), to.to_path_buf());
                blocking(move || std::fs::rename(a, b))
                    .await
                    .map_err(|e| at_path(e, "cannot rename", from))
            }
        }
    }

    /// Removes a file; the caller syncs the directory.
    pub async fn remove(&self, path: &Path) -> io::Result<()> {
        match self {
            Disk::Sim(sim) => sim.remove(path),
            Disk::Real => {
                let owned = path.to_path_buf();
                blocking(move || std::fs::remove_file(owned))
                    .await
                    .map_err(|e| at_path(e, "cannot remove", path))
            }
        }
    }

    /// Makes the names in `dir` durable (fsync of the directory).
    pub async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match self {
            Disk::Sim(sim) => sim.sync(dir),
            Disk::Real => {
                let directory = glommio::io::Directory::open(dir)
                    .await
                    .map_err(from_glommio)?;
                let synced = directory.sync().await.map_err(from_glommio);
                let _ = directory.close().await;
                synced.map_err(|e| at_path(e, "cannot fsync directory", dir))
            }
        }
    }
}

/// One block of zeros beside the files we write, read once per device by
/// each executor before its first write-only open there (see
/// [`probe_device_once`]). Not a segment or snapshot name: recovery and
/// purge ignore it.
pub const IO_PROBE_NAME: &str = "io-probe";

/// Bytes in the probe file: a block any device can read with O_DIRECT.
const IO_PROBE_BYTES: usize = 4096;

thread_local! {
    /// The devices whose poll-ring support glommio has probed on this
    /// executor's thread (glommio caches the answer per thread and device).
    static PROBED_DEVICES: std::cell::RefCell<std::collections::HashSet<u64>> =
        std::cell::RefCell::default();
}

/// Lets glommio probe the poll ring of `path`'s device with a read that can
/// succeed, before a write-only open does it with one that cannot.
///
/// glommio probes a device the first time an executor opens a DMA file on it,
/// by reading one block of that file, and caches the answer for the thread.
/// From a write-only descriptor the read fails with EBADF, which glommio logs
/// as an error ("got unexpected error when probing iopoll support ... Bad
/// file descriptor") before disabling the poll ring for the device
/// (glommio#670, open in 0.9). From an empty file the read succeeds without
/// touching the device and would wrongly enable it. So the first open on each
/// device is a read-only one of a file that holds a block ([`IO_PROBE_NAME`],
/// written if missing): a device without polled queues (virtio here) answers
/// EOPNOTSUPP and is quietly marked as such, one with them gets the poll ring.
/// Failing to probe is harmless (glommio then probes, and logs, as before),
/// so it is only logged at debug level.
async fn probe_device_once(path: &Path) {
    let Some(dir) = path.parent() else {
        return;
    };
    let owned = dir.to_path_buf();
    let device = blocking(move || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(owned).map(|meta| meta.dev())
    })
    .await;
    let Ok(device) = device else {
        return;
    };
    if PROBED_DEVICES.with(|probed| probed.borrow().contains(&device)) {
        return;
    }
    PROBED_DEVICES.with(|probed| probed.borrow_mut().insert(device));
    let probe = dir.join(IO_PROBE_NAME);
    let written = {
        let probe = probe.clone();
        blocking(move || match std::fs::metadata(&probe) {
            Ok(meta) if meta.len() >= IO_PROBE_BYTES as u64 => Ok(()),
            _ => std::fs::write(&probe, [0u8; IO_PROBE_BYTES]),
        })
        .await
    };
    let opened = match written {
        Ok(()) => DmaFile::open(&probe).await.map_err(from_glommio),
        Err(error) => Err(error),
    };
    match opened {
        Ok(file) => {
            let _ = file.close().await;
        }
        Err(error) => {
            tracing::debug!(file = %probe.display(), %error, "cannot probe the device's poll ring")
        }
    }
}

fn list_dir(dir: &Path) -> io::Result<Vec<(String, u64)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str() {
            files.push((name.to_owned(), meta.len()));
        }
    }
    files.sort();
    Ok(files)
}

async fn read_real(path: &Path) -> io::Result<Vec<u8>> {
    let file = DmaFile::open(path).await.map_err(from_glommio)?;
    let result = async {
        let size = file.file_size().await.map_err(from_glommio)?;
        let size = usize::try_from(size).map_err(io::Error::other)?;
        let mut bytes = Vec::with_capacity(size);
        while bytes.len() < size {
            let want = (size - bytes.len()).min(READ_CHUNK_BYTES);
            let read = file
                .read_at_aligned(bytes.len() as u64, want.next_multiple_of(4096))
                .await
                .map_err(from_glommio)?;
            if read.is_empty() {
                break;
            }
            let take = read.len().min(size - bytes.len());
            bytes.extend_from_slice(&read[..take]);
        }
        Ok(bytes)
    }
    .await;
    let _ = file.close().await;
    result
}

/// A file being read in pieces ([`Disk::read_pieces`]). Lives on the core
/// that opened it.
pub struct PieceReader {
    len: u64,
    source: Pieces,
}

enum Pieces {
    Real {
        file: std::rc::Rc<DmaFile>,
        path: PathBuf,
        next_read_at: u64,
        /// Reads in flight, by offset, in file order.
        in_flight: std::collections::VecDeque<(u64, PieceRead)>,
    },
    Sim {
        bytes: Vec<u8>,
        at: usize,
    },
}

type PieceRead = glommio::task::JoinHandle<glommio::Result<glommio::io::ReadResult, ()>>;

/// One piece of a file.
pub enum Piece {
    /// Read from the disk.
    Real(glommio::io::ReadResult),
    /// A copy out of a simulated file.
    Sim(Vec<u8>),
}

impl Deref for Piece {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Piece::Real(read) => read,
            Piece::Sim(bytes) => bytes,
        }
    }
}

impl PieceReader {
    /// The file's length when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next piece; `None` at the end. A file that ends before its length
    /// gives a short last piece.
    pub async fn next(&mut self) -> io::Result<Option<Piece>> {
        let len = self.len;
        match &mut self.source {
            Pieces::Sim { bytes, at } => {
                let end = (*at + SIM_PIECE_BYTES).min(bytes.len());
                let piece = bytes[*at..end].to_vec();
                *at = end;
                Ok((!piece.is_empty()).then_some(Piece::Sim(piece)))
            }
            Pieces::Real {
                file,
                path,
                next_read_at,
                in_flight,
            } => {
                while in_flight.len() < READ_AHEAD_PIECES && *next_read_at < len {
                    let file = file.clone();
                    let at = *next_read_at;
                    let read = glommio::spawn_local(async move {
                        file.read_at_aligned(at, READ_PIECE_BYTES).await
                    })
                    .detach();
                    in_flight.push_back((at, read));
                    *next_read_at += READ_PIECE_BYTES as u64;
                }
                let Some((at, read)) = in_flight.pop_front() else {
                    return Ok(None);
                };
                let read = read
                    .await
                    .ok_or_else(|| io::Error::other("a read was cancelled"))?
                    .map_err(|e| at_path(from_glommio(e), "cannot read", path))?;
                // The last piece may be padded to the block size; a file that
                // shrank since it was opened ends at its first short read.
                let keep = read.len().min((len - at) as usize);
                if keep < READ_PIECE_BYTES {
                    for (_, pending) in in_flight.drain(..) {
                        pending.cancel();
                    }
                    *next_read_at = len;
                }
                if keep == 0 {
                    return Ok(None);
                }
                let piece = glommio::io::ReadResult::slice(&read, 0, keep)
                    .expect("a prefix of the piece read");
                Ok(Some(Piece::Real(piece)))
            }
        }
    }

    /// Closes the file (pieces still held stay valid).
    pub async fn close(self) {
        if let Pieces::Real {
            file, in_flight, ..
        } = self.source
        {
            for (_, pending) in in_flight {
                pending.cancel();
                let _ = pending.await;
            }
            if let Ok(file) = std::rc::Rc::try_unwrap(file) {
                let _ = file.close().await;
            }
        }
    }
}

impl File {
    /// The alignment writes need (offset and length), in bytes.
    pub fn alignment(&self) -> u64 {
        match self {
            File::Real(file) => file.alignment(),
            File::Sim(_) => 512,
        }
    }

    /// Reserves `len` bytes of disk for the file (its size becomes `len`; the
    /// new bytes read as zeros). File systems without `fallocate` are fine.
    pub async fn pre_allocate(&self, len: u64) -> io::Result<()> {
        match self {
            File::Sim(file) => file.pre_allocate(len),
            File::Real(file) => match file.pre_allocate(len, false).await.map_err(from_glommio) {
                Err(e) if e.kind() == io::ErrorKind::Unsupported => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
                other => other,
            },
        }
    }

    /// Writes all of `bytes` at `offset` (both multiples of [`File::alignment`]).
    /// A short write is reported as out of space.
    pub async fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        match self {
            File::Sim(file) => file.write_at(bytes, offset),
            File::Real(file) => {
                let align = file.alignment();
                assert!(offset % align == 0, "DMA writes start aligned");
                assert!(
                    bytes.len() as u64 % align == 0,
                    "DMA writes are whole blocks"
                );
                let mut buffer = file.alloc_dma_buffer(bytes.len());
                buffer.as_bytes_mut().copy_from_slice(bytes);
                let written = file.write_at(buffer, offset).await.map_err(from_glommio)?;
                if written < bytes.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::StorageFull,
                        format!("short write: {written} of {} bytes", bytes.len()),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Writes all of `bytes` at `offset` and fdatasyncs, as two plain system
    /// calls on the executor's blocking thread: one thread hand-off per batch,
    /// where io_uring punts both the write (it must update the file's times)
    /// and the fdatasync to its own worker threads, one hand-off each.
    /// `Err(Written(e))` is a write error, `Err(Synced(e))` an fdatasync error.
    pub async fn write_then_fdatasync(&self, bytes: &[u8], offset: u64) -> Result<(), SyncedWrite> {
        match self {
            File::Sim(file) => {
                file.write_at(bytes, offset).map_err(SyncedWrite::Written)?;
                file.sync().map_err(SyncedWrite::Synced)
            }
            File::Real(file) => {
                let align = file.alignment() as usize;
                assert!(offset % align as u64 == 0, "DMA writes start aligned");
                assert!(bytes.len() % align == 0, "DMA writes are whole blocks");
                let mut buffer = rkyv::util::AlignedVec::<4096>::with_capacity(bytes.len());
                buffer.extend_from_slice(bytes);
                let fd = file.as_raw_fd();
                // `file` is borrowed across the await, so `fd` stays open until
                // the blocking work is done.
                blocking(move || pwrite_all_then_fdatasync(fd, &buffer, offset)).await
            }
        }
    }

    /// fdatasync.
    pub async fn fdatasync(&self) -> io::Result<()> {
        match self {
            File::Sim(file) => file.sync(),
            File::Real(file) => file.fdatasync().await.map_err(from_glommio),
        }
    }

    /// Cuts the file to `len` bytes.
    pub async fn truncate(&self, len: u64) -> io::Result<()> {
        match self {
            File::Sim(file) => file.truncate(len),
            File::Real(file) => file.truncate(len).await.map_err(from_glommio),
        }
    }

    /// Closes the file.
    pub async fn close(self) -> io::Result<()> {
        match self {
            File::Sim(_) => Ok(()),
            File::Real(file) => file.close().await.map_err(from_glommio),
        }
    }
}

/// How [`File::write_then_fdatasync`] failed.
#[derive(Debug)]
pub enum SyncedWrite {
    /// The write (out of space, or fail-stop).
    Written(io::Error),
    /// The fdatasync: always fail-stop.
    Synced(io::Error),
}

fn pwrite_all_then_fdatasync(
    fd: std::os::unix::io::RawFd,
    bytes: &[u8],
    offset: u64,
) -> Result<(), SyncedWrite> {
    let mut done = 0usize;
    while done < bytes.len() {
        let rest = &bytes[done..];
        // SAFETY: `rest` is a live, initialized buffer of `rest.len()` bytes and
        // `fd` is an open file descriptor owned by the caller for the call.
        let written = unsafe {
            libc::pwrite(
                fd,
                rest.as_ptr().cast(),
                rest.len(),
                (offset + done as u64) as libc::off_t,
            )
        };
        match written {
            n if n > 0 => done += n as usize,
            0 => {
                return Err(SyncedWrite::Written(io::Error::new(
                    io::ErrorKind::StorageFull,
                    format!("short write: {done} of {} bytes", bytes.len()),
                )))
            }
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(SyncedWrite::Written(error));
            }
        }
    }
    // SAFETY: fdatasync takes an open descriptor and touches no memory of ours.
    if unsafe { libc::fdatasync(fd) } != 0 {
        return Err(SyncedWrite::Synced(io::Error::last_os_error()));
    }
    Ok(())
}

/// `<dir>/corekeeper`: where corekeeper keeps its files inside `dataDir` or `dataLogDir`.
pub fn data_subdir(dir: &Path) -> PathBuf {
    dir.join(crate::log::DATA_SUBDIR)
}

#[cfg(test)]
mod tests;
