//! The state file: what the exporter knew of an org at its last complete poll, kept across
//! restarts so that a restart neither resolves the alerts of tokens still known to expire nor
//! misses a token that lapsed while the exporter was down.
//!
//! One file per org in `--storage.path`, named after the org ([`file_name`]), written after each
//! successful poll: to a temporary file in the same directory (mode 0600), flushed to disk, then
//! renamed over the old one, so that a crash at any point leaves the old file or the new one,
//! never half of one. The file holds token metadata as Okta lists it and what the exporter
//! learnt about it; it never holds a credential.
//!
//! The format is JSON, versioned by `format` and `version` (see [`OrgRecord`]; the README documents
//! it). A file that cannot be trusted (truncated, corrupt, of a later version, of another org or
//! URL, a token that does not make sense) is refused whole, moved aside for a human to look at,
//! and the org starts empty: an empty start is honest, a wrong token is not.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::removal::RemovalReason;
use crate::model::status::TokenStatus;
use crate::okta::ApiToken;

mod roles;
pub use roles::{OwnerRolesRecord, RoleRecord};

/// The value of `format` in every state file.
pub const FORMAT: &str = "okta-token-exporter/org-state";
/// The version this build writes, and the newest it reads.
pub const VERSION: u32 = 1;

/// One org's state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// Always [`FORMAT`]: tells our file from any other JSON.
    pub format: String,
    /// [`VERSION`] when written; a later version is refused, not guessed at.
    pub version: u32,
    /// The org's `org` label, as configured.
    pub org: String,
    /// The org's URL, as configured: the same name pointing at another org starts empty.
    pub url: String,
    pub saved_at: DateTime<Utc>,
    /// When the poll that produced this record finished.
    pub last_successful_poll: DateTime<Utc>,
    /// The token list of that poll, sorted by id.
    pub tokens: Vec<TokenRecord>,
    /// Token owners as last looked up.
    #[serde(default)]
    pub owners: Vec<OwnerRecord>,
    /// Where the next System Log query starts.
    #[serde(default)]
    pub system_log_until: Option<DateTime<Utc>>,
    /// Suspicious use seen in the System Log, per token.
    #[serde(default)]
    pub suspicious: Vec<SuspicionRecord>,
    /// Revocations seen in the System Log, remembered to explain a token's disappearance.
    #[serde(default)]
    pub revocations: Vec<RevocationRecord>,
    /// Counters that keep counting across restarts.
    #[serde(default)]
    pub counters: Counters,
    /// The `next` link of the System Log polling query: where reading goes on.
    #[serde(default)]
    pub system_log_next: Option<String>,
    /// Owner deactivations seen in the System Log, remembered to explain disappearances.
    #[serde(default)]
    pub deactivations: Vec<DeactivationRecord>,
    /// Tokens that left the list within the last day, so that their alerts outlive a restart.
    #[serde(default)]
    pub removed_tokens: Vec<RemovedTokenRecord>,
    /// When Okta last answered each endpoint with 429.
    #[serde(default)]
    pub rate_limited: Vec<RateLimitedRecord>,
    /// Token owners' admin roles as last looked up, sorted by user id.
    #[serde(default)]
    pub owner_roles: Box<[OwnerRolesRecord]>,
}

/// A user deactivation read from the System Log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeactivationRecord {
    pub user_id: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// A token that left the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovedTokenRecord {
    pub token_id: String,
    pub token_name: String,
    pub user_id: String,
    #[serde(default)]
    pub owner_login: String,
    pub reason: RemovalReason,
    pub removed_at: DateTime<Utc>,
    pub last_status: TokenStatus,
}

/// The last 429 of an endpoint (its `endpoint` label).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitedRecord {
    pub endpoint: String,
    pub at: DateTime<Utc>,
}

/// A token's metadata, as Okta listed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub client_name: String,
    pub network_connection: String,
    /// `tokenWindow`, in seconds.
    pub window_seconds: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// A token owner as last looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerRecord {
    pub user_id: String,
    pub login: String,
    /// As Okta spells it: `ACTIVE`, `SUSPENDED`, `DEPROVISIONED`, …
    pub status: String,
    pub fetched_at: DateTime<Utc>,
}

/// Suspicious use of one token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuspicionRecord {
    pub token_id: String,
    pub last: DateTime<Utc>,
    pub count: u64,
}

/// A revocation read from the System Log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevocationRecord {
    pub token_id: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// Counters exported with `_total` that must not restart from zero with the process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    #[serde(default)]
    pub tokens_removed_expired: u64,
    #[serde(default)]
    pub tokens_removed_revoked: u64,
    #[serde(default)]
    pub tokens_removed_owner_deactivated: u64,
}

/// Why a state file was not used or not written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path}: not a state file of this exporter: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error("{path}: version {found} is newer than this exporter reads ({VERSION}); was it written by a later release?")]
    FutureVersion { path: PathBuf, found: u32 },
    #[error("{path}: holds org {found_org:?} at {found_url}, not {org:?} at {url}")]
    Foreign {
        path: PathBuf,
        org: String,
        url: String,
        found_org: String,
        found_url: String,
    },
}

/// What [`load`] found.
#[derive(Debug)]
pub enum Loaded {
    /// A file to serve until the first poll replaces it.
    Restored(OrgRecord),
    /// No file yet: the first start with this directory, or a new org.
    Missing,
    /// A file that cannot be trusted; it was moved to `kept_at` (when the move worked).
    Refused {
        problem: StorageError,
        kept_at: Option<PathBuf>,
    },
}

/// The file name of an org's state: the org name where it is a safe file name, else a readable
/// form of it with a hash of the real name, so that two names never share a file.
pub fn file_name(org: &str) -> String {
    let safe: String = org
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == org && !org.is_empty() && !org.starts_with('.') {
        format!("{org}.json")
    } else {
        let digest = Sha256::digest(org.as_bytes());
        let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{hash}.json", safe.trim_start_matches('.'))
    }
}

/// Writes `record` as the org's state file, atomically: the old file or the new one survives a
/// crash or a full disk, never a mix. Returns the file's path.
pub fn save(dir: &Path, record: &OrgRecord) -> Result<PathBuf, StorageError> {
    let path = dir.join(file_name(&record.org));
    let temporary = dir.join(format!(".{}.tmp", file_name(&record.org)));
    let write_error = |source| StorageError::Write {
        path: path.clone(),
        source,
    };
    let mut bytes = serde_json::to_vec(record).map_err(|e| write_error(io::Error::other(e)))?;
    bytes.push(b'\n');
    let result = write_synced(&temporary, &bytes)
        .and_then(|()| fs::rename(&temporary, &path))
        .and_then(|()| sync_directory(dir));
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(write_error)?;
    Ok(path)
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // A leftover temporary file keeps its old mode through `truncate`: set it again.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the rename itself durable.
fn sync_directory(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Reads the org's state file, checking that it is ours, of a version we read, of this org and
/// URL, and that every token in it makes sense. A file that fails is moved aside.
pub fn load(dir: &Path, org: &str, url: &str, now: DateTime<Utc>) -> Loaded {
    let path = dir.join(file_name(org));
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Missing,
        Err(source) => {
            return Loaded::Refused {
                problem: StorageError::Read { path, source },
                kept_at: None,
            }
        }
    };
    match decode(&path, &bytes, org, url) {
        Ok(record) => Loaded::Restored(record),
        Err(problem) => {
            let aside = dir.join(format!(
                "{}.refused-{}",
                file_name(org),
                now.format("%Y%m%dT%H%M%SZ")
            ));
            let kept_at = fs::rename(&path, &aside).ok().map(|()| aside);
            Loaded::Refused { problem, kept_at }
        }
    }
}

/// The header every version shares: read first, so that a later version is refused by its
/// number rather than by whatever else changed.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
    org: String,
    url: String,
}

/// Decodes and checks a state file's bytes (the pure part of [`load`]).
pub fn decode(path: &Path, bytes: &[u8], org: &str, url: &str) -> Result<OrgRecord, StorageError> {
    let corrupt = |problem: String| StorageError::Corrupt {
        path: path.to_owned(),
        problem,
    };
    let header: Header = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if header.format != FORMAT {
        return Err(corrupt(format!(
            "format is {:?}, expected {FORMAT:?}",
            header.format
        )));
    }
    if header.version > VERSION {
        return Err(StorageError::FutureVersion {
            path: path.to_owned(),
            found: header.version,
        });
    }
    if header.version == 0 {
        return Err(corrupt("version 0 does not exist".into()));
    }
    if header.org != org || header.url != url {
        return Err(StorageError::Foreign {
            path: path.to_owned(),
            org: org.into(),
            url: url.into(),
            found_org: header.org,
            found_url: header.url,
        });
    }
    let record: OrgRecord = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    check_tokens(&record.tokens).map_err(corrupt)?;
    Ok(record)
}

/// Every token must be one Okta could have listed: an id, unique, a window that is not negative
/// and a last use (`expiresAt - tokenWindow`) that exists.
fn check_tokens(tokens: &[TokenRecord]) -> Result<(), String> {
    let mut ids = std::collections::HashSet::new();
    for (index, token) in tokens.iter().enumerate() {
        if token.id.is_empty() {
            return Err(format!("tokens[{index}]: empty id"));
        }
        if !ids.insert(token.id.as_str()) {
            return Err(format!("tokens[{index}]: id {:?} appears twice", token.id));
        }
        let window = TimeDelta::try_seconds(token.window_seconds)
            .filter(|w| *w >= TimeDelta::zero())
            .filter(|w| token.expires_at.checked_sub_signed(*w).is_some());
        if window.is_none() {
            return Err(format!(
                "tokens[{index}] ({}): window_seconds {} is impossible",
                token.id, token.window_seconds
            ));
        }
    }
    Ok(())
}

impl TokenRecord {
    pub fn from_token(token: &ApiToken) -> TokenRecord {
        TokenRecord {
            id: token.id.clone(),
            name: token.name.clone(),
            user_id: token.user_id.clone(),
            client_name: token.client_name.clone(),
            network_connection: token.network_connection.clone(),
            window_seconds: token.window.num_seconds(),
            created_at: token.created,
            expires_at: token.expires_at,
        }
    }

    /// The token again; [`decode`] checked that its window is valid.
    pub fn to_token(&self) -> ApiToken {
        ApiToken {
            id: self.id.clone(),
            name: self.name.clone(),
            user_id: self.user_id.clone(),
            client_name: self.client_name.clone(),
            network_connection: self.network_connection.clone(),
            window: TimeDelta::try_seconds(self.window_seconds).unwrap_or_default(),
            created: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

impl OrgRecord {
    /// An empty record of the current format, for `org` at `url`.
    pub fn new(org: &str, url: &str, saved_at: DateTime<Utc>) -> OrgRecord {
        OrgRecord {
            format: FORMAT.into(),
            version: VERSION,
            org: org.into(),
            url: url.into(),
            saved_at,
            last_successful_poll: saved_at,
            tokens: Vec::new(),
            owners: Vec::new(),
            system_log_until: None,
            suspicious: Vec::new(),
            revocations: Vec::new(),
            counters: Counters::default(),
            system_log_next: None,
            deactivations: Vec::new(),
            removed_tokens: Vec::new(),
            rate_limited: Vec::new(),
            owner_roles: Box::default(),
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn an_unreadable_path_is_refused_without_moving_anything() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("acme.json")).unwrap();
        let (problem, kept_at) = refused(load(dir.path(), "acme", URL, now()));
        assert!(matches!(problem, StorageError::Read { .. }), "{problem}");
        assert_eq!(kept_at, None);
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
}
