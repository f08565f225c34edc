//! The state file's unit tests: its format, what is refused, and how it is written.

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn now() -> DateTime<Utc> {
    at("2026-12-02T12:00:00Z")
}

const URL: &str = "https://acme.okta.com";

fn token(id: &str) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        name: format!("token {id}"),
        user_id: "00u1".into(),
        client_name: "Okta API".into(),
        network_connection: "ANYWHERE".into(),
        window_seconds: 30 * 86_400,
        created_at: Some(at("2026-10-01T00:00:00Z")),
        expires_at: at("2026-12-20T00:00:00Z"),
    }
}

fn record() -> OrgRecord {
    let mut record = OrgRecord::new("acme", URL, now());
    record.tokens = vec![token("00T1"), token("00T2")];
    record.owners = vec![OwnerRecord {
        user_id: "00u1".into(),
        login: "ci@acme.com".into(),
        status: "ACTIVE".into(),
        fetched_at: now(),
    }];
    record.system_log_until = Some(now());
    record.counters.tokens_removed_expired = 3;
    record
}

fn refused(loaded: Loaded) -> (StorageError, Option<PathBuf>) {
    match loaded {
        Loaded::Refused { problem, kept_at } => (problem, kept_at),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_saved_record_loads_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(dir.path(), &record()).unwrap();
    assert_eq!(path, dir.path().join("acme.json"));
    match load(dir.path(), "acme", URL, now()) {
        Loaded::Restored(loaded) => assert_eq!(loaded, record()),
        other => panic!("{other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn the_file_is_readable_by_its_owner_only_even_over_a_leftover_temporary_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let leftover = dir.path().join(".acme.json.tmp");
    fs::write(&leftover, b"{\"half\":").unwrap();
    fs::set_permissions(&leftover, fs::Permissions::from_mode(0o644)).unwrap();
    let path = save(dir.path(), &record()).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        !leftover.exists(),
        "the temporary file became the state file"
    );
}

#[test]
fn no_file_is_a_plain_first_start() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        load(dir.path(), "acme", URL, now()),
        Loaded::Missing
    ));
}

#[test]
fn a_write_interrupted_half_way_leaves_the_last_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), &record()).unwrap();
    // A crash between writing the temporary file and renaming it leaves this behind.
    let mut newer = serde_json::to_vec(&OrgRecord::new("acme", URL, now())).unwrap();
    newer.truncate(newer.len() / 2);
    fs::write(dir.path().join(".acme.json.tmp"), newer).unwrap();
    match load(dir.path(), "acme", URL, now()) {
        Loaded::Restored(loaded) => assert_eq!(loaded, record()),
        other => panic!("{other:?}"),
    }
    // And the next save replaces the leftover.
    save(dir.path(), &record()).unwrap();
    assert!(!dir.path().join(".acme.json.tmp").exists());
}

#[test]
fn bad_files_are_refused_and_kept_aside() {
    let good = serde_json::to_string(&record()).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replacen(from, to, 1)
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "EOF"),
        ("truncated", good[..good.len() / 2].to_string(), "EOF"),
        ("not JSON", "okta".into(), "expected"),
        (
            "another JSON document",
            "{\"groups\": []}".into(),
            "missing field",
        ),
        (
            "another format",
            edit(FORMAT, "node-exporter/textfile"),
            "format is",
        ),
        (
            "a later version",
            edit("\"version\":1", "\"version\":2"),
            "newer than",
        ),
        (
            "version 0",
            edit("\"version\":1", "\"version\":0"),
            "version 0",
        ),
        (
            "another org",
            edit("\"org\":\"acme\"", "\"org\":\"other\""),
            "holds org",
        ),
        (
            "another URL",
            edit(URL, "https://other.okta.com"),
            "holds org",
        ),
        (
            "a token without id",
            edit("\"id\":\"00T2\"", "\"id\":\"\""),
            "tokens[1]: empty id",
        ),
        (
            "a token twice",
            edit("\"id\":\"00T2\"", "\"id\":\"00T1\""),
            "appears twice",
        ),
        (
            "a negative window",
            edit("\"window_seconds\":2592000", "\"window_seconds\":-1"),
            "impossible",
        ),
        (
            "a window past the start of time",
            edit(
                "\"window_seconds\":2592000",
                "\"window_seconds\":9223372036854775807",
            ),
            "impossible",
        ),
        (
            "a timestamp that is not one",
            edit("2026-12-20T00:00:00Z", "next tuesday"),
            "input contains invalid characters",
        ),
    ];
    for (what, contents, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme.json");
        fs::write(&path, &contents).unwrap();
        let (problem, kept_at) = refused(load(dir.path(), "acme", URL, now()));
        let message = problem.to_string();
        assert!(message.contains(expected), "{what}: {message}");
        assert!(
            message.contains("acme.json"),
            "{what}: names the file: {message}"
        );
        let kept_at = kept_at.unwrap_or_else(|| panic!("{what}: not kept aside"));
        assert_eq!(fs::read_to_string(&kept_at).unwrap(), contents, "{what}");
        assert!(!path.exists(), "{what}: the bad file left the way");
        assert!(
            matches!(load(dir.path(), "acme", URL, now()), Loaded::Missing),
            "{what}: the next start is a plain empty one"
        );
    }
}

#[test]
fn a_directory_at_the_state_path_is_refused_without_moving_anything() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("acme.json")).unwrap();
    let (problem, kept_at) = refused(load(dir.path(), "acme", URL, now()));
    assert!(
        problem
            .to_string()
            .contains("a directory, not a regular file"),
        "{problem}"
    );
    assert_eq!(kept_at, None);
}

/// Loads on another thread, failing the test (not hanging it) when the load blocks.
fn load_within_seconds(dir: &Path) -> Loaded {
    let dir = dir.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load(&dir, "acme", URL, now()));
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the load returned instead of blocking")
}

#[cfg(unix)]
#[test]
fn a_fifo_at_the_state_path_is_refused_at_once_instead_of_hanging_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = std::ffi::CString::new(
        dir.path()
            .join("acme.json")
            .to_str()
            .unwrap()
            .as_bytes()
            .to_vec(),
    )
    .unwrap();
    // SAFETY: a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let (problem, kept_at) = refused(load_within_seconds(dir.path()));
    assert!(problem.to_string().contains("a FIFO"), "{problem}");
    assert_eq!(kept_at, None, "nothing is moved");
    // The next save replaces the FIFO with a state file.
    save(dir.path(), &record()).unwrap();
    assert!(matches!(
        load_within_seconds(dir.path()),
        Loaded::Restored(_)
    ));
}

#[cfg(unix)]
#[test]
fn a_link_at_the_state_path_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    // A valid state file, but reached through a link.
    let target = save(elsewhere.path(), &record()).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("acme.json")).unwrap();
    let (problem, kept_at) = refused(load(dir.path(), "acme", URL, now()));
    assert!(problem.to_string().contains("symbolic link"), "{problem}");
    assert!(problem.to_string().contains("acme.json"), "{problem}");
    assert_eq!(kept_at, None);
    // Saving replaces the link itself; the file it pointed to stays as it was.
    let before = fs::read(&target).unwrap();
    let mut changed = record();
    changed.tokens.clear();
    save(dir.path(), &changed).unwrap();
    assert_eq!(fs::read(&target).unwrap(), before);
    assert!(!fs::symlink_metadata(dir.path().join("acme.json"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[cfg(unix)]
#[test]
fn a_link_planted_at_the_temporary_name_never_redirects_the_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.conf");
    fs::write(&victim, "precious\n").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join(".acme.json.tmp")).unwrap();
    for _ in 0..2 {
        save(dir.path(), &record()).unwrap();
    }
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    let mode = fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "not chmodded either");
    assert!(matches!(
        load(dir.path(), "acme", URL, now()),
        Loaded::Restored(_)
    ));
}

#[test]
fn a_state_file_over_the_size_cap_is_set_aside_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acme.json");
    // Sparse: large without taking the disk.
    File::create(&path)
        .unwrap()
        .set_len(MAX_STATE_BYTES + 1)
        .unwrap();
    let (problem, kept_at) = refused(load_within_seconds(dir.path()));
    assert!(problem.to_string().contains("larger than"), "{problem}");
    assert!(kept_at.is_some(), "kept aside for a human");
    assert!(matches!(
        load(dir.path(), "acme", URL, now()),
        Loaded::Missing
    ));
}

#[cfg(unix)]
#[test]
fn a_directory_others_can_write_is_warned_about_and_their_files_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let set_mode = |mode| {
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode)).unwrap();
    };
    set_mode(0o700);
    assert_eq!(shared_directory(dir.path()), None);
    set_mode(0o770);
    let group = shared_directory(dir.path()).unwrap();
    assert!(
        group.contains("its group") && group.contains("0770"),
        "{group}"
    );
    set_mode(0o1777);
    let everyone = shared_directory(dir.path()).unwrap();
    assert!(
        everyone.contains("every user") && everyone.contains("1777"),
        "{everyone}"
    );
    // Our own file still loads there.
    save(dir.path(), &record()).unwrap();
    assert!(matches!(
        load(dir.path(), "acme", URL, now()),
        Loaded::Restored(_)
    ));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Another user's file, planted there (root can make one to test with).
        std::os::unix::fs::chown(dir.path().join("acme.json"), Some(65534), None).unwrap();
        let (problem, _) = refused(load(dir.path(), "acme", URL, now()));
        assert!(problem.to_string().contains("uid 65534"), "{problem}");
    }
    // A second link to our file, made by someone who can write the directory.
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let path = save(dir.path(), &record()).unwrap();
    fs::hard_link(&path, dir.path().join("other-name")).unwrap();
    let (problem, _) = refused(load(dir.path(), "acme", URL, now()));
    assert!(problem.to_string().contains("2 links"), "{problem}");
}

#[test]
fn restored_times_are_bounded_by_now() {
    let later = now() + TimeDelta::days(400);
    let mut future = record();
    future.saved_at = later;
    future.last_successful_poll = later;
    future.system_log_until = Some(later);
    future.owners[0].fetched_at = later;
    future.rate_limited.push(RateLimitedRecord {
        endpoint: "/api/v1/logs".into(),
        at: later,
    });
    future.system_log_next = Some(format!(
        "{URL}/api/v1/logs?after=abc&since={}",
        later.to_rfc3339()
    ));
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), &future).unwrap();
    let restored = match load(dir.path(), "acme", URL, now()) {
        Loaded::Restored(record) => record,
        other => panic!("{other:?}"),
    };
    assert_eq!(restored.saved_at, now());
    assert_eq!(restored.last_successful_poll, now());
    assert_eq!(restored.system_log_until, Some(now()));
    assert_eq!(restored.owners[0].fetched_at, now());
    assert_eq!(restored.rate_limited[0].at, now());
    assert_eq!(
        restored.system_log_next, None,
        "a link from the future is dropped"
    );
    assert_eq!(
        restored.tokens,
        record().tokens,
        "expiries are not times past"
    );

    // A link from the past is kept, and a record from the past unchanged.
    let mut past = record();
    past.system_log_next = Some(format!(
        "{URL}/api/v1/logs?after=abc&since={}",
        (now() - TimeDelta::hours(1)).to_rfc3339()
    ));
    let mut bounded = past.clone();
    assert!(bound_times(&mut bounded, now()).is_empty());
    assert_eq!(bounded, past);
}

#[test]
fn a_directory_that_cannot_be_written_is_an_error_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), &record()).unwrap();
    // Root ignores permission bits, so make the temporary file's path unusable instead.
    fs::create_dir(dir.path().join(".acme.json.tmp")).unwrap();
    let mut changed = record();
    changed.tokens.clear();
    let error = save(dir.path(), &changed).unwrap_err();
    assert!(matches!(error, StorageError::Write { .. }), "{error}");
    assert!(error.to_string().contains("acme.json"), "{error}");
    match load(dir.path(), "acme", URL, now()) {
        Loaded::Restored(loaded) => assert_eq!(loaded, record()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn file_names_are_safe_and_distinct() {
    let cases = [
        ("acme-prod", "acme-prod.json"),
        ("acme.preview_2", "acme.preview_2.json"),
    ];
    for (org, expected) in cases {
        assert_eq!(file_name(org), expected);
    }
    for org in ["../etc/passwd", "a/b", "a b", ".hidden", "", "ünï"] {
        let name = file_name(org);
        assert!(
            !name.contains('/') && !name.starts_with('.'),
            "{org:?}: {name}"
        );
        assert!(name.ends_with(".json"), "{org:?}: {name}");
    }
    assert_ne!(file_name("a b"), file_name("a_b"));
    assert_ne!(file_name("a/b"), file_name("a b"));
}

#[test]
fn tokens_round_trip_through_records() {
    let token = ApiToken {
        id: "00T9".into(),
        name: "scim \"sync\"".into(),
        user_id: "00u9".into(),
        client_name: String::new(),
        network_connection: "ZONE".into(),
        window: TimeDelta::minutes(5),
        created: None,
        expires_at: now(),
    };
    assert_eq!(TokenRecord::from_token(&token).to_token(), token);
}
