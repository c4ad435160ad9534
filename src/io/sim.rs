//! A simulated disk for tests: files in memory, shared by every core and the
//! test itself, failing on request.
//!
//! Faults: fdatasync (of a file or a directory) fails with EIO once a number
//! of syncs succeeded; writes and preallocation fail with ENOSPC once the files
//! would hold more than a byte budget (a write that does not fit writes what
//! fits, then fails, as a real disk may).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Faults to inject.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimFaults {
    /// Every fdatasync after this many successful ones fails with EIO.
    pub syncs_before_failure: Option<u64>,
    /// The files may hold at most this many bytes in all; more is ENOSPC.
    pub space_bytes: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    /// File names to inodes: an open file follows its inode through renames,
    /// as a file descriptor does.
    names: BTreeMap<PathBuf, u64>,
    files: BTreeMap<u64, Vec<u8>>,
    next_inode: u64,
    dirs: BTreeSet<PathBuf>,
    faults: SimFaults,
    syncs: u64,
    failed_syncs: u64,
}

impl State {
    fn used(&self) -> u64 {
        self.files.values().map(|f| f.len() as u64).sum()
    }

    /// Bytes that may still be added.
    fn room(&self) -> u64 {
        self.faults
            .space_bytes
            .map_or(u64::MAX, |budget| budget.saturating_sub(self.used()))
    }

    fn sync(&mut self) -> io::Result<()> {
        if self
            .faults
            .syncs_before_failure
            .is_some_and(|n| self.syncs >= n)
        {
            self.failed_syncs += 1;
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.syncs += 1;
        Ok(())
    }
}

/// An in-memory disk. Clones share the same files.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

/// A file of a [`SimDisk`].
pub struct SimFile {
    disk: SimDisk,
    inode: u64,
    path: PathBuf,
    /// O_DSYNC: every write is also a sync (and fails like one).
    dsync: bool,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl SimDisk {
    /// An empty disk with no faults.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the faults to inject from now on.
    pub fn set_faults(&self, faults: SimFaults) {
        self.lock().faults = faults;
    }

    /// Successful fdatasyncs so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Failed fdatasyncs so far.
    pub fn failed_syncs(&self) -> u64 {
        self.lock().failed_syncs
    }

    /// Bytes held by all files.
    pub fn used_bytes(&self) -> u64 {
        self.lock().used()
    }

    /// Every file, with its size.
    pub fn files(&self) -> Vec<(PathBuf, u64)> {
        let state = self.lock();
        state
            .names
            .iter()
            .map(|(path, inode)| (path.clone(), state.files[inode].len() as u64))
            .collect()
    }

    pub(super) fn create_dir_all(&self, dir: &Path) {
        let mut state = self.lock();
        let mut at = Some(dir);
        while let Some(path) = at {
            state.dirs.insert(path.to_path_buf());
            at = path.parent();
        }
    }

    pub(super) fn list(&self, dir: &Path) -> Vec<(String, u64)> {
        let state = self.lock();
        state
            .names
            .iter()
            .filter(|(path, _)| path.parent() == Some(dir))
            .filter_map(|(path, inode)| {
                let name = path.file_name()?.to_str()?.to_owned();
                Some((name, state.files[inode].len() as u64))
            })
            .collect()
    }

    pub(super) fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = self.lock();
        let inode = state.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(state.files[inode].clone())
    }

    /// Creates `path`, or truncates it if it exists (O_CREAT | O_TRUNC).
    pub(super) fn create(&self, path: &Path, dsync: bool) -> io::Result<SimFile> {
        let mut state = self.lock();
        if let Some(parent) = path.parent() {
            if !state.dirs.contains(parent) {
                return Err(not_found(parent));
            }
        }
        let inode = match state.names.get(path) {
            Some(inode) => *inode,
            None => {
                state.next_inode += 1;
                let inode = state.next_inode;
                state.names.insert(path.to_path_buf(), inode);
                inode
            }
        };
        state.files.insert(inode, Vec::new());
        Ok(SimFile {
            disk: self.clone(),
            inode,
            path: path.to_path_buf(),
            dsync,
        })
    }

    pub(super) fn open(&self, path: &Path, dsync: bool) -> io::Result<SimFile> {
        let inode = *self.lock().names.get(path).ok_or_else(|| not_found(path))?;
        Ok(SimFile {
            disk: self.clone(),
            inode,
            path: path.to_path_buf(),
            dsync,
        })
    }

    pub(super) fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let inode = state.names.remove(from).ok_or_else(|| not_found(from))?;
        if let Some(replaced) = state.names.insert(to.to_path_buf(), inode) {
            state.files.remove(&replaced);
        }
        Ok(())
    }

    /// Unlinks `path`; its bytes go with it (an open handle then fails).
    pub(super) fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let inode = state.names.remove(path).ok_or_else(|| not_found(path))?;
        state.files.remove(&inode);
        Ok(())
    }

    pub(super) fn sync(&self, _dir: &Path) -> io::Result<()> {
        self.lock().sync()
    }
}

impl SimFile {
    fn with<R>(&self, f: impl FnOnce(&mut State, &u64) -> io::Result<R>) -> io::Result<R> {
        let mut state = self.disk.lock();
        if !state.files.contains_key(&self.inode) {
            return Err(not_found(&self.path));
        }
        f(&mut state, &self.inode)
    }

    pub(super) fn pre_allocate(&self, len: u64) -> io::Result<()> {
        self.with(|state, path| {
            let current = state.files[path].len() as u64;
            if len <= current {
                return Ok(());
            }
            if len - current > state.room() {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let file = state.files.get_mut(path).expect("checked");
            file.resize(len as usize, 0);
            Ok(())
        })
    }

    pub(super) fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let dsync = self.dsync;
        self.with(|state, path| {
            let current = state.files[path].len() as u64;
            let end = offset + bytes.len() as u64;
            let growth = end.saturating_sub(current);
            let room = state.room();
            let fits = if growth > room {
                // What fits goes in, then the write fails.
                (current + room).saturating_sub(offset) as usize
            } else {
                bytes.len()
            };
            let file = state.files.get_mut(path).expect("checked");
            let offset = offset as usize;
            if file.len() < offset + fits {
                file.resize(offset + fits, 0);
            }
            file[offset..offset + fits].copy_from_slice(&bytes[..fits]);
            if fits < bytes.len() {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            if dsync {
                state.sync()?;
            }
            Ok(())
        })
    }

    pub(super) fn sync(&self) -> io::Result<()> {
        self.with(|state, _| state.sync())
    }

    pub(super) fn truncate(&self, len: u64) -> io::Result<()> {
        self.with(|state, path| {
            state
                .files
                .get_mut(path)
                .expect("checked")
                .resize(len as usize, 0);
            Ok(())
        })
    }
}
