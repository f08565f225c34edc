//! The storage directory cannot be turned against the exporter: a FIFO named like the state file
//! does not hang the start, a directory others can write is warned about, and the real binary
//! still serves.

use crate::common;

use std::time::Duration;

use common::*;
use okta_simulator::Simulator;

const API_TOKEN: &str = "00state-file-test-token";

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_at_the_state_path_neither_hangs_the_start_nor_stops_the_state_being_kept() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Simulator::start(API_TOKEN, vec![]).await.unwrap();
    let storage = tempfile::tempdir().unwrap();
    std::fs::set_permissions(storage.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let fifo = storage.path().join("test-org.json");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "1h";
    setup
        .extra_args
        .push(format!("--storage.path={}", storage.path().display()));
    // Waits until it listens (or fails after 20 s): a FIFO read would block for ever.
    let exporter = Exporter::start(setup);
    let lines = exporter.wait_for_log(
        "the refusal and the warning",
        |l| l.contains("a FIFO, not a regular file") || l.contains("writable by every user"),
        |lines| lines.len() >= 2,
    );
    assert!(lines.iter().any(|l| l.contains("level=warn")), "{lines:#?}");
    // The first poll writes a real state file in its place.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::symlink_metadata(&fifo).unwrap().is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "no state file was written"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
