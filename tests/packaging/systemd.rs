//! The systemd unit `deploy/systemd/okta-token-exporter.service` and its example config
//! `deploy/systemd/config.yml` (the conffile the Debian package installs as
//! `/etc/okta-token-exporter/config.yml`): `systemd-analyze verify` accepts the unit without a
//! word, it runs as a dynamic user with its state in `StateDirectory=` and the token as a
//! credential (never in the unit or the environment), it is hardened (`systemd-analyze security`
//! rates it), and the example config passes the real binary's `--config.check` with the unit's
//! own command line, the credential's path mapped to a temporary file.
//!
//! `systemd-analyze` comes with Debian's `systemd` package. Without it those tests print a loud
//! SKIPPED line and pass, except on CI (`CI=true`), where a missing tool fails the test.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_okta-token-exporter");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const UNIT: &str = "deploy/systemd/okta-token-exporter.service";
const UNIT_NAME: &str = "okta-token-exporter.service";
const CONFIG: &str = "deploy/systemd/config.yml";
/// Where the Debian package installs the binary and the config.
const INSTALLED_BIN: &str = "/usr/bin/okta-token-exporter";
const INSTALLED_CONFIG: &str = "/etc/okta-token-exporter/config.yml";
/// `systemd-analyze security` scores exposure from 0 (best) to 10; the threshold is in tenths.
const MAX_EXPOSURE_TENTHS: u32 = 20;

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

fn systemd_analyze() -> Option<PathBuf> {
    common::require_tool("systemd-analyze", "systemd")
}

/// The `Key=value` settings of one section of the unit, in order (a key may repeat).
fn section(unit: &str, name: &str) -> Vec<(String, String)> {
    let header = format!("[{name}]");
    unit.lines()
        .skip_while(|line| line.trim() != header)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.trim().is_empty() && !line.starts_with(['#', ';']))
        .map(|line| {
            let (key, value) = line.split_once('=').expect("Key=value");
            (key.trim().to_owned(), value.trim().to_owned())
        })
        .collect()
}

/// Every value of `key` in the unit's [Service] section.
fn service_values(key: &str) -> Vec<String> {
    section(&read(UNIT), "Service")
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

/// The one value of `key` in [Service]; panics when it is not set exactly once.
fn service_value(key: &str) -> String {
    let values = service_values(key);
    assert_eq!(
        values.len(),
        1,
        "{key}= must be set once in [Service]: {values:?}"
    );
    values.into_iter().next().unwrap()
}

/// The unit in a temporary directory under its own name, with ExecStart's binary replaced by the
/// one cargo built: `systemd-analyze verify` insists that the binary exists.
fn unit_with_built_binary() -> (tempfile::TempDir, PathBuf) {
    let unit = read(UNIT);
    let exec_start = format!("ExecStart={INSTALLED_BIN} ");
    assert_eq!(
        unit.matches(&exec_start).count(),
        1,
        "{UNIT} runs {INSTALLED_BIN}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(UNIT_NAME);
    std::fs::write(
        &file,
        unit.replace(&exec_start, &format!("ExecStart={BIN} ")),
    )
    .unwrap();
    (dir, file)
}

/// How the config names the credential `name` of `LoadCredential=name:path`: in the directory
/// systemd gives the service's credentials, whose path it sets in `CREDENTIALS_DIRECTORY`.
fn credential_path(name: &str) -> String {
    format!("${{CREDENTIALS_DIRECTORY}}/{name}")
}

#[test]
#[cfg_attr(
    not(tool_systemd_analyze),
    ignore = "needs `systemd-analyze`: apt-get install systemd"
)]
fn systemd_analyze_verify_accepts_the_unit_without_a_warning() {
    let Some(systemd_analyze) = systemd_analyze() else {
        return;
    };
    let (_dir, unit) = unit_with_built_binary();
    let output = Command::new(systemd_analyze)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "systemd-analyze verify:\n{stderr}");
    // An unknown or misspelt key is only a warning ("Unknown key ..., ignoring"): none at all.
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}

#[test]
fn it_runs_as_a_dynamic_user_with_its_state_in_the_state_directory() {
    assert_eq!(service_value("DynamicUser"), "yes");
    assert_eq!(service_value("StateDirectory"), "okta-token-exporter");
    let exec_start = service_value("ExecStart");
    assert!(
        exec_start.starts_with(&format!("{INSTALLED_BIN} --config.file={INSTALLED_CONFIG}")),
        "{exec_start}"
    );
    assert!(
        exec_start.contains(" --storage.path=${STATE_DIRECTORY}")
            || exec_start.contains(" --storage.path=/var/lib/okta-token-exporter"),
        "{exec_start}"
    );
    assert_eq!(service_value("Restart"), "on-failure");
    // Exit code 2 is a configuration error: restarting in a loop cannot fix it.
    assert_eq!(service_value("RestartPreventExitStatus"), "2");
    assert_eq!(
        section(&read(UNIT), "Install"),
        [("WantedBy".to_owned(), "multi-user.target".to_owned())]
    );
}

#[test]
fn the_token_is_a_credential_never_in_the_unit_or_its_environment() {
    assert_eq!(
        service_value("LoadCredential"),
        "okta.token:/etc/okta-token-exporter/okta.token"
    );
    for key in [
        "Environment",
        "EnvironmentFile",
        "PassEnvironment",
        "SetCredential",
    ] {
        assert!(service_values(key).is_empty(), "{key}= in {UNIT}");
    }
    let config = read(CONFIG);
    assert!(
        !config.contains("token_env"),
        "{CONFIG} reads no token from the environment"
    );
    // The credential is named as the file it is loaded from, so that the README's check outside
    // the service (CREDENTIALS_DIRECTORY=/etc/okta-token-exporter) reads the same file.
    assert!(
        config.contains(&format!("token_file: {}\n", credential_path("okta.token"))),
        "{CONFIG} reads the token from the credential"
    );
}

#[test]
#[cfg_attr(
    not(tool_systemd_analyze),
    ignore = "needs `systemd-analyze`: apt-get install systemd"
)]
fn the_unit_is_hardened() {
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("SystemCallArchitectures", "native"),
    ] {
        assert_eq!(service_value(key), value, "{key}=");
    }
    assert_eq!(
        service_values("SystemCallFilter")
            .first()
            .map(String::as_str),
        Some("@system-service")
    );
    let Some(systemd_analyze) = systemd_analyze() else {
        return;
    };
    let (_dir, unit) = unit_with_built_binary();
    let output = Command::new(systemd_analyze)
        .args([
            "security",
            "--offline=yes",
            &format!("--threshold={MAX_EXPOSURE_TENTHS}"),
        ])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze security");
    assert!(
        output.status.success(),
        "systemd-analyze security rates the unit's exposure above {}.{}:\n{}{}",
        MAX_EXPOSURE_TENTHS / 10,
        MAX_EXPOSURE_TENTHS % 10,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_example_config_passes_config_check_with_the_units_command_line() {
    let dir = tempfile::tempdir().unwrap();
    // The credential as systemd hands it over: the token alone, readable by the service only, in
    // the directory systemd names in CREDENTIALS_DIRECTORY.
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    let token = credentials.join("okta.token");
    std::fs::write(&token, "00systemd-test-token\n").unwrap();
    common::set_private(&token);
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let config = dir.path().join("config.yml");
    let example = read(CONFIG);
    assert!(example.contains("url: https://acme.okta.com"), "{CONFIG}");
    std::fs::write(&config, &example).unwrap();
    // ExecStart's arguments, with the paths systemd would give.
    let exec_start = service_value("ExecStart");
    let args: Vec<String> = exec_start
        .split_whitespace()
        .skip(1)
        .map(|arg| {
            arg.replace(INSTALLED_CONFIG, &config.display().to_string())
                .replace("${STATE_DIRECTORY}", &state.display().to_string())
                .replace("/var/lib/okta-token-exporter", &state.display().to_string())
        })
        .collect();
    let check = |credentials: Option<&Path>| {
        let mut command = Command::new(BIN);
        command
            .args(&args)
            .arg("--config.check")
            .env_remove("OKTA_API_TOKEN")
            .env_remove("CREDENTIALS_DIRECTORY");
        if let Some(dir) = credentials {
            command.env("CREDENTIALS_DIRECTORY", dir);
        }
        command.output().expect("run the exporter")
    };
    let output = check(Some(&credentials));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{BIN} {args:?} --config.check\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(!stderr.contains("level=warn"), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("configuration OK: 1 org(s)"));
    // Outside the service, without the variable: the error says how to check the file.
    let output = check(None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("CREDENTIALS_DIRECTORY=/etc/okta-token-exporter"),
        "{stderr}"
    );
}
