//! Frames read ahead into the page cache while others are processed, so that from a disk the
//! reads overlap the computation instead of each thread waiting for its next frame.
//!
//! The advice (`posix_fadvise(POSIX_FADV_WILLNEED)`, POSIX.1-2001) is given by a thread of its
//! own: Linux starts the reads of a range when advised, but the call itself waits while the
//! device's queue is full (~7 ms per full-size ALFOSC frame here), time a worker would lose.
//! A range is advised in pieces of [`ADVICE_BYTES`]: Linux reads at most a few MiB of a single
//! advised range (8 MiB of each 18 MB frame here). Advice only: any failure is ignored, and
//! elsewhere than on Linux nothing is done.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

/// Bytes per `posix_fadvise` call.
const ADVICE_BYTES: u64 = 4 << 20;

/// A thread that asks the kernel to read the files it is given, in order.
pub struct Prefetcher {
    sender: Option<Sender<(PathBuf, Option<u64>)>>,
    worker: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Starts the thread (none if it cannot be started: the files are then read when needed).
    pub fn start() -> Prefetcher {
        let (sender, receiver) = channel::<(PathBuf, Option<u64>)>();
        let worker = std::thread::Builder::new()
            .name("prefetch".into())
            .spawn(move || {
                for (path, head_bytes) in receiver {
                    advise_will_need(&path, head_bytes);
                }
            })
            .ok();
        Prefetcher {
            sender: worker.is_some().then_some(sender),
            worker,
        }
    }

    /// Asks for `path` to be read ahead (returns at once).
    pub fn ask(&self, path: &Path) {
        self.send(path, None);
    }

    /// Asks for the first `bytes` of `path` to be read ahead (returns at once).
    pub fn ask_head(&self, path: &Path, bytes: u64) {
        self.send(path, Some(bytes));
    }

    /// Hands `path` (its first `head_bytes`, or all of it) to the thread.
    fn send(&self, path: &Path, head_bytes: Option<u64>) {
        if let Some(sender) = &self.sender {
            let _ = sender.send((path.to_path_buf(), head_bytes));
        }
    }
}

impl Drop for Prefetcher {
    /// Lets the thread finish the advice already asked for (a few calls) and joins it.
    fn drop(&mut self) {
        self.sender.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// `POSIX_FADV_WILLNEED` over the whole file (over its first `head_bytes` when given),
/// [`ADVICE_BYTES`] at a time.
fn advise_will_need(path: &Path, head_bytes: Option<u64>) {
    #[cfg(target_os = "linux")]
    if let Ok(file) = std::fs::File::open(path) {
        use std::os::fd::AsRawFd;
        let size = file.metadata().map_or(0, |m| m.len());
        let size = head_bytes.map_or(size, |head| head.min(size));
        for offset in (0..size).step_by(ADVICE_BYTES as usize) {
            let (Ok(offset), Ok(len)) = (
                libc::off_t::try_from(offset),
                libc::off_t::try_from(ADVICE_BYTES.min(size - offset)),
            ) else {
                return;
            };
            // SAFETY: the descriptor is open for the duration of the call; the call only
            // schedules reads of the file into the page cache.
            unsafe {
                libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_WILLNEED)
            };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (path, head_bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asking for files or their heads (one missing, one head longer than its file) neither
    /// blocks nor fails, and dropping the prefetcher joins its thread.
    #[test]
    fn asks_and_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.fits");
        std::fs::write(&file, vec![7u8; 9 << 20]).unwrap();
        let prefetcher = Prefetcher::start();
        prefetcher.ask(&file);
        prefetcher.ask(&dir.path().join("missing.fits"));
        prefetcher.ask_head(&file, 5 << 20);
        prefetcher.ask_head(&file, 64 << 20);
        prefetcher.ask_head(&dir.path().join("missing.fits"), 1 << 20);
        drop(prefetcher);
        assert_eq!(std::fs::read(&file).unwrap().len(), 9 << 20);
    }
}
