//! The watcher: what a set of files looked like when they were read (a [`Fingerprint`]), and the
//! task that looks at them once a second, off the threads that serve requests, so that a
//! changed web config or certificate applies without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// How often the watcher looks for changed files.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What one look at the files found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Nothing changed since the last look.
    Unchanged,
    /// A change loaded; new settings are in force.
    Reloaded,
    /// A change did not load (logged); the previous settings stay in force.
    Refused,
}

/// Starts the task that calls `look` on `target` every [`CHECK_INTERVAL`], off the threads that
/// serve requests (on a blocking thread). It stops when the returned guard is dropped, or when
/// `target` is dropped. Call within a Tokio runtime.
pub(super) fn spawn<T: Send + Sync + 'static>(target: &Arc<T>, look: fn(&T) -> Refresh) -> Watcher {
    let target: Weak<T> = Arc::downgrade(target);
    let task = tokio::spawn(async move {
        let start = tokio::time::Instant::now() + CHECK_INTERVAL;
        let mut ticks = tokio::time::interval_at(start, CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(target) = target.upgrade() else {
                return;
            };
            match tokio::task::spawn_blocking(move || look(&target)).await {
                Ok(outcome) => tracing::trace!(?outcome, "looked at the web config files"),
                Err(e) => tracing::error!(error = %e, "looking at the web config files failed"),
            }
        }
    });
    Watcher(task)
}

/// Keeps the watcher task of [`WebConfigFile::watch`](super::WebConfigFile::watch) running;
/// dropping it stops the task.
#[derive(Debug)]
pub struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The state of a set of files when they were read; a change in any means a reload.
#[derive(Default)]
pub(super) struct Fingerprint(Vec<Seen>);

/// One file as it was read.
struct Seen {
    path: PathBuf,
    /// `None` when the file did not exist (or could not be looked at).
    stamp: Option<Stamp>,
    /// SHA-256 of the content read; `None` when it could not be read.
    digest: Option<[u8; 32]>,
    /// File times have a coarse granularity (a kernel tick; seconds on some file systems), so a
    /// write in the same tick as the read may leave the stamp unchanged. While the stamp is that
    /// recent, the content is compared too.
    racy: bool,
}

/// Size, modification time and inode: what a `stat` tells of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

/// Modification times closer than this to the moment of looking may hide a later write.
const RACY_WINDOW: Duration = Duration::from_secs(2);

impl Fingerprint {
    /// Notes a file's state, then reads it: a write that lands after the read shows as a change.
    pub(super) fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        let stamp = stamp(path);
        let racy = stamp.is_some_and(|s| recent(s.modified));
        let content = std::fs::read(path);
        self.0.push(Seen {
            path: path.to_owned(),
            stamp,
            digest: content.as_ref().ok().map(|c| Sha256::digest(c).into()),
            racy,
        });
        content
    }

    /// Whether any of the files changed (or appeared, or vanished) since. Costs a `stat` per
    /// file, and a read of the files modified within the last [`RACY_WINDOW`] of their reading.
    pub(super) fn changed(&mut self) -> bool {
        for seen in &mut self.0 {
            let now = stamp(&seen.path);
            if now != seen.stamp {
                return true;
            }
            if seen.racy {
                let digest = std::fs::read(&seen.path)
                    .ok()
                    .map(|c| Sha256::digest(c).into());
                if digest != seen.digest {
                    return true;
                }
                // Read after the stamp's tick ended: any write in that tick is in what was read.
                seen.racy = now.is_some_and(|s| recent(s.modified));
            }
        }
        false
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        len: metadata.len(),
        inode,
    })
}

/// Whether a modification time is within [`RACY_WINDOW`] of now (or in the future).
fn recent(modified: SystemTime) -> bool {
    SystemTime::now()
        .duration_since(modified)
        .map_or(true, |age| age < RACY_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::testing::{auth_with, basic, write, write_certificate};
    use crate::web::WebConfigFile;

    #[test]
    fn files_named_before_they_exist_are_picked_up_when_they_appear() {
        let dir = tempfile::tempdir().unwrap();
        write_certificate(dir.path(), "a");
        let tls = |name: &str| {
            format!("tls_server_config:\n  cert_file: {name}.crt\n  key_file: {name}.key\n")
        };
        let path = write(dir.path(), "web.yml", &tls("a"));
        let file = WebConfigFile::load(&path).unwrap();
        let first = file.current();
        assert!(first.tls.is_some());

        write(dir.path(), "web.yml", &tls("b"));
        assert_eq!(file.refresh(), Refresh::Refused, "b.crt does not exist yet");
        assert_eq!(
            file.refresh(),
            Refresh::Unchanged,
            "nothing it read changed"
        );
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        write(dir.path(), "b.crt", &certified.cert.pem());
        assert_eq!(file.refresh(), Refresh::Refused, "b.key does not exist yet");
        assert!(
            Arc::ptr_eq(&first, &file.current()),
            "the last good settings stay"
        );
        write(dir.path(), "b.key", &certified.signing_key.serialize_pem());
        assert_eq!(file.refresh(), Refresh::Reloaded, "both files appeared");
        assert!(!Arc::ptr_eq(&first, &file.current()));
    }

    /// Rewrites a file with content of the same length, then puts its modification time back:
    /// what a write within one tick of the file system's clock looks like to `stat`.
    fn rewrite_keeping_the_stamp(path: &Path, text: &str) {
        let modified = std::fs::metadata(path).unwrap().modified().unwrap();
        assert_eq!(std::fs::metadata(path).unwrap().len(), text.len() as u64);
        std::fs::write(path, text).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(modified).unwrap();
    }

    #[test]
    fn a_write_the_file_times_cannot_show_is_seen_while_the_file_is_recent() {
        let yaml = |password: &str| {
            format!(
                "basic_auth_users:\n  prometheus: {}\n",
                bcrypt::hash(password, 4).unwrap()
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "web.yml", &yaml("one"));
        let file = WebConfigFile::load(&path).unwrap();
        rewrite_keeping_the_stamp(&path, &yaml("two"));
        assert_eq!(file.refresh(), Refresh::Reloaded, "the content differs");
        let auth = file.current().basic_auth.clone().unwrap();
        assert_eq!(auth.check(Some(&basic("prometheus", "two"))), Ok(()));

        // A file last written long before it was read is trusted by its stamp alone, so the
        // watcher does not read it every second.
        let old = SystemTime::now() - Duration::from_secs(3600);
        let path = write(dir.path(), "old.yml", &yaml("one"));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let file = WebConfigFile::load(&path).unwrap();
        rewrite_keeping_the_stamp(&path, &yaml("two"));
        assert_eq!(file.refresh(), Refresh::Unchanged);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_watcher_publishes_changes_within_seconds_and_stops_with_its_guard() {
        let (dir, file) = auth_with(&[("prometheus", "one")]);
        let file = Arc::new(file);
        let first = file.current();
        let watcher = file.watch();
        let yaml = format!(
            "basic_auth_users:\n  prometheus: {}\n  # changed\n",
            bcrypt::hash("two", 4).unwrap()
        );
        std::fs::write(dir.path().join("web.yml"), yaml).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while Arc::ptr_eq(&first, &file.current()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the watcher did not publish the change"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let auth = file.current().basic_auth.clone().unwrap();
        assert_eq!(auth.check(Some(&basic("prometheus", "two"))), Ok(()));

        let task = watcher.0.abort_handle();
        drop(watcher);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !task.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the watcher did not stop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
