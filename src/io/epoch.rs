//! ZAB's two persisted epochs, `acceptedEpoch` and `currentEpoch`, one small
//! file each as in ZooKeeper (a decimal number and a newline), kept beside the
//! snapshots. Each write is atomic and durable: a temp file written and
//! fdatasynced, renamed over the old one, and the directory fsynced, so a
//! crash leaves either the old epoch or the new one, never a torn file.

use std::io;
use std::path::{Path, PathBuf};

use super::Disk;

/// Which epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochFile {
    /// The last epoch this member acknowledged a new leader's proposal of.
    Accepted,
    /// The epoch whose leader this member last synchronized with.
    Current,
}

impl EpochFile {
    /// The file's name (ZooKeeper's).
    pub fn name(self) -> &'static str {
        match self {
            EpochFile::Accepted => "acceptedEpoch",
            EpochFile::Current => "currentEpoch",
        }
    }

    fn path(self, dir: &Path) -> PathBuf {
        dir.join(self.name())
    }
}

/// Reads an epoch from `dir`; `None` if the file does not exist (a member
/// that never joined an ensemble). A file that is not a number is an error
/// naming the file, never a silent zero.
pub async fn read_epoch(disk: &Disk, dir: &Path, which: EpochFile) -> io::Result<Option<u32>> {
    let path = which.path(dir);
    let names = disk.list(dir).await?;
    if !names.iter().any(|(name, _)| name == which.name()) {
        return Ok(None);
    }
    let bytes = disk.read_all(&path).await?;
    let text = std::str::from_utf8(&bytes).unwrap_or("");
    match text.trim().parse::<u32>() {
        Ok(epoch) => Ok(Some(epoch)),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} does not hold an epoch ({:?}); restore it from a backup, or remove this \
                 member's data directory so it re-synchronizes from the leader",
                path.display(),
                text.chars().take(32).collect::<String>()
            ),
        )),
    }
}

/// Writes an epoch to `dir` durably before returning.
pub async fn write_epoch(disk: &Disk, dir: &Path, which: EpochFile, epoch: u32) -> io::Result<()> {
    let target = which.path(dir);
    let temp = dir.join(format!("{}.tmp", which.name()));
    let text = format!("{epoch}\n");
    let file = disk.create(&temp).await?;
    let written = async {
        let align = file.alignment() as usize;
        let mut block = vec![0u8; text.len().next_multiple_of(align)];
        block[..text.len()].copy_from_slice(text.as_bytes());
        file.write_at(&block, 0).await?;
        file.truncate(text.len() as u64).await?;
        file.fdatasync().await
    }
    .await;
    let closed = file.close().await;
    written?;
    closed?;
    disk.rename(&temp, &target).await?;
    disk.sync_dir(dir).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::SimDisk;

    fn run<T>(work: impl std::future::Future<Output = T>) -> T {
        glommio::LocalExecutorBuilder::default()
            .make()
            .expect("executor")
            .run(work)
    }

    async fn round_trip(disk: &Disk, dir: &Path) {
        disk.create_dir_all(dir).await.expect("dir");
        assert_eq!(
            read_epoch(disk, dir, EpochFile::Accepted)
                .await
                .expect("read"),
            None
        );
        write_epoch(disk, dir, EpochFile::Accepted, 7)
            .await
            .expect("write");
        write_epoch(disk, dir, EpochFile::Current, 6)
            .await
            .expect("write");
        write_epoch(disk, dir, EpochFile::Accepted, 8)
            .await
            .expect("overwrite");
        assert_eq!(
            read_epoch(disk, dir, EpochFile::Accepted)
                .await
                .expect("read"),
            Some(8)
        );
        assert_eq!(
            read_epoch(disk, dir, EpochFile::Current)
                .await
                .expect("read"),
            Some(6)
        );
    }

    #[test]
    fn epochs_round_trip_on_a_real_disk_in_zookeepers_format() {
        let dir = std::env::temp_dir().join(format!("corekeeper-epoch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        run(round_trip(&Disk::Real, &dir));
        assert_eq!(
            std::fs::read_to_string(dir.join("acceptedEpoch")).expect("file"),
            "8\n"
        );
        std::fs::write(dir.join("currentEpoch"), "garbage").expect("corrupt");
        let error = run(async { read_epoch(&Disk::Real, &dir, EpochFile::Current).await })
            .expect_err("a corrupt epoch is an error");
        assert!(error.to_string().contains("currentEpoch"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn epochs_round_trip_on_the_simulated_disk() {
        let disk = Disk::Sim(SimDisk::new());
        run(round_trip(&disk, &PathBuf::from("/data/corekeeper")));
    }
}
