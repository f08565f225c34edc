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
//! The format is JSON, versioned by `format` and `version` (see [`OrgRecord`]; docs/configuration.md documents
//! it). A file that cannot be trusted (truncated, corrupt, of a later version, of another org or
//! URL, a token that does not make sense) is refused whole, moved aside for a human to look at,
//! and the org starts empty: an empty start is honest, a wrong token is not.
//!
//! The directory is not trusted either. No link is followed: the state file is opened with
//! `O_NOFOLLOW` (and `O_NONBLOCK`, so that a FIFO cannot hang the start) and refused unless it is
//! a regular file of at most [`MAX_STATE_BYTES`]; the temporary file is created anew
//! (`O_CREAT|O_EXCL|O_NOFOLLOW`), never opened where it stands, so a link planted at its name
//! makes a write fail instead of overwriting what it points to. A directory that other users can
//! write is warned about (a Kubernetes `emptyDir` is 0777; its other users are the pod's
//! containers), and in one a state file that this user does not own, or with other links, is
//! refused. The times a restored file holds are bounded by now: a System Log position from the
//! future would skip every event until then.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::removal::RemovalReason;
use crate::model::status::TokenStatus;
use crate::okta::ApiToken;

mod posture;
pub use posture::{CreationRecord, OwnerRolesRecord, PostureRecord, RoleRecord};

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
    /// The posture: `owner_roles` and `creations` (boxed: a record is moved around whole).
    #[serde(flatten)]
    pub posture: Box<PostureRecord>,
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

/// The largest state file read: far above what an org with ten thousand tokens writes, far
/// below what would take long to read or hold.
pub const MAX_STATE_BYTES: u64 = 64 << 20;

/// Why a state file was not used or not written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Not a file this exporter would have written there: a link, a FIFO, a directory, a file
    /// of another user in a shared directory, too large.
    #[error("{path}: refused without reading it: {problem}")]
    Unsafe { path: PathBuf, problem: String },
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
/// crash or a full disk, never a mix. The temporary file is created anew: a link or file planted
/// at its name is removed first (the link, not what it points to), and one planted again in the
/// meantime makes the write fail. Returns the file's path.
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
    // A leftover of a crash, or anything planted there: the name goes, whatever it points to
    // stays untouched. A directory stays and makes the creation below fail.
    let _ = fs::remove_file(path);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(path)?;
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
/// URL, and that every token in it makes sense. A file that fails is moved aside; one that is
/// not a regular file, or is too large, or (in a directory others can write) is not this user's,
/// is refused without being read. The times of a restored file are bounded by `now`
/// ([`bound_times`]). A directory others can write is warned about.
pub fn load(dir: &Path, org: &str, url: &str, now: DateTime<Utc>) -> Loaded {
    let path = dir.join(file_name(org));
    let shared = match shared_directory(dir) {
        Some(warning) => {
            tracing::warn!(dir = %dir.display(), "{warning}");
            true
        }
        None => false,
    };
    let bytes = match read_state_file(&path, shared) {
        Ok(bytes) => bytes,
        Err(Unread::Missing) => return Loaded::Missing,
        Err(Unread::Refused(problem)) => {
            // Too large is a file of ours gone wrong: kept aside like a corrupt one.
            let kept_at = match problem {
                StorageError::Unsafe { .. } if is_too_large(&problem) => set_aside(dir, org, now),
                _ => None,
            };
            return Loaded::Refused { problem, kept_at };
        }
    };
    match decode(&path, &bytes, org, url) {
        Ok(mut record) => {
            let bounded = bound_times(&mut record, now);
            if !bounded.is_empty() {
                tracing::warn!(path = %path.display(), fields = %bounded.join(", "), "the state file holds times later than now (a clock that was ahead, or an edited file); they are taken as now, and a System Log position from the future is dropped");
            }
            Loaded::Restored(record)
        }
        Err(problem) => {
            let kept_at = set_aside(dir, org, now);
            Loaded::Refused { problem, kept_at }
        }
    }
}

/// Moves the org's state file aside for a human to look at; where it went, if the move worked.
fn set_aside(dir: &Path, org: &str, now: DateTime<Utc>) -> Option<PathBuf> {
    let aside = dir.join(format!(
        "{}.refused-{}",
        file_name(org),
        now.format("%Y%m%dT%H%M%SZ")
    ));
    fs::rename(dir.join(file_name(org)), &aside)
        .ok()
        .map(|()| aside)
}

fn is_too_large(problem: &StorageError) -> bool {
    matches!(problem, StorageError::Unsafe { problem, .. } if problem.starts_with(TOO_LARGE))
}

const TOO_LARGE: &str = "larger than";

/// Why no bytes came from a state file.
enum Unread {
    Missing,
    Refused(StorageError),
}

/// Reads a state file without following a link, without waiting on a FIFO, only when it is a
/// regular file of at most [`MAX_STATE_BYTES`], and, in a `shared` directory, only when this
/// user owns it and it has no other link.
fn read_state_file(path: &Path, shared: bool) -> Result<Vec<u8>, Unread> {
    use std::io::Read;
    let refuse = |problem: String| {
        Unread::Refused(StorageError::Unsafe {
            path: path.to_owned(),
            problem,
        })
    };
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Unread::Missing),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refuse(
                "it is a symbolic link, and links in the storage directory are not followed".into(),
            ))
        }
        Err(source) => {
            return Err(Unread::Refused(StorageError::Read {
                path: path.to_owned(),
                source,
            }))
        }
    };
    let read_error = |source| {
        Unread::Refused(StorageError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(refuse(format!(
            "it is {}, not a regular file",
            file_kind(&metadata.file_type())
        )));
    }
    #[cfg(unix)]
    if shared {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if metadata.uid() != me {
            return Err(refuse(format!(
                "the directory is writable by other users and the file belongs to uid {}, not \
                 to this process's uid {me}",
                metadata.uid()
            )));
        }
        if metadata.nlink() > 1 {
            return Err(refuse(format!(
                "the directory is writable by other users and the file has {} links",
                metadata.nlink()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = shared;
    if metadata.len() > MAX_STATE_BYTES {
        return Err(refuse(format!(
            "{TOO_LARGE} {MAX_STATE_BYTES} bytes ({} bytes)",
            metadata.len()
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(refuse(format!(
            "{TOO_LARGE} {MAX_STATE_BYTES} bytes (it grew while read)"
        )));
    }
    Ok(bytes)
}

/// What a file that is not a regular one is, for a message.
fn file_kind(kind: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "something else"
    }
}

/// Why a directory other users can write is not a safe place for the state, or `None` when only
/// its owner can write it.
pub fn shared_directory(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir).ok()?.permissions().mode();
        if mode & 0o022 == 0 {
            return None;
        }
        let who = if mode & 0o002 != 0 {
            "every user"
        } else {
            "its group"
        };
        Some(format!(
            "the storage directory is writable by {who} (mode {:04o}): another user could \
             replace or delete the state files; the exporter follows no link there and refuses \
             state files it does not own, but make the directory private (chmod 700, or \
             StateDirectoryMode=0700 under systemd)",
            mode & 0o7777
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Bounds the times of a restored record by `now`: each later one becomes `now`, and a System
/// Log `next` link whose `since` or `until` is later is dropped (the next query then starts at
/// `system_log_until`). Returns the fields changed, for a warning.
pub fn bound_times(record: &mut OrgRecord, now: DateTime<Utc>) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut bound = |time: &mut DateTime<Utc>, field: &'static str| {
        if *time > now {
            *time = now;
            if !changed.contains(&field) {
                changed.push(field);
            }
        }
    };
    bound(&mut record.saved_at, "saved_at");
    bound(&mut record.last_successful_poll, "last_successful_poll");
    if let Some(until) = &mut record.system_log_until {
        bound(until, "system_log_until");
    }
    for owner in &mut record.owners {
        bound(&mut owner.fetched_at, "owners[].fetched_at");
    }
    for suspicion in &mut record.suspicious {
        bound(&mut suspicion.last, "suspicious[].last");
    }
    for revocation in &mut record.revocations {
        bound(&mut revocation.at, "revocations[].at");
    }
    for deactivation in &mut record.deactivations {
        bound(&mut deactivation.at, "deactivations[].at");
    }
    for removed in &mut record.removed_tokens {
        bound(&mut removed.removed_at, "removed_tokens[].removed_at");
    }
    for limited in &mut record.rate_limited {
        bound(&mut limited.at, "rate_limited[].at");
    }
    let future_link = record.system_log_next.as_deref().is_some_and(|next| {
        let Ok(url) = url::Url::parse(next) else {
            return false;
        };
        let later = url.query_pairs().any(|(key, value)| {
            (key == "since" || key == "until")
                // An offset's unescaped `+` reads as a space in a query.
                && DateTime::parse_from_rfc3339(&value.replace(' ', "+"))
                    .is_ok_and(|t| t.to_utc() > now)
        });
        later
    });
    if future_link {
        record.system_log_next = None;
        changed.push("system_log_next");
    }
    changed
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
    check_tokens(&record.tokens).map_err(|e| corrupt(e.to_string()))?;
    Ok(record)
}

/// Every token must be one Okta could have listed: an id, unique, a window that is not negative
/// and a last use (`expiresAt - tokenWindow`) that exists.
fn check_tokens(tokens: &[TokenRecord]) -> Result<(), ImpossibleToken> {
    let mut ids = std::collections::HashSet::new();
    for (index, token) in tokens.iter().enumerate() {
        if token.id.is_empty() {
            return Err(ImpossibleToken::EmptyId { index });
        }
        if !ids.insert(token.id.as_str()) {
            return Err(ImpossibleToken::RepeatedId {
                index,
                id: token.id.clone(),
            });
        }
        let window = TimeDelta::try_seconds(token.window_seconds)
            .filter(|w| *w >= TimeDelta::zero())
            .filter(|w| token.expires_at.checked_sub_signed(*w).is_some());
        if window.is_none() {
            return Err(ImpossibleToken::Window {
                index,
                id: token.id.clone(),
                window_seconds: token.window_seconds,
            });
        }
    }
    Ok(())
}

/// A stored token that Okta could not have listed: the state file is corrupt.
#[derive(Debug, PartialEq, thiserror::Error)]
enum ImpossibleToken {
    #[error("tokens[{index}]: empty id")]
    EmptyId { index: usize },
    #[error("tokens[{index}]: id {id:?} appears twice")]
    RepeatedId { index: usize, id: String },
    #[error("tokens[{index}] ({id}): window_seconds {window_seconds} is impossible")]
    Window {
        index: usize,
        id: String,
        window_seconds: i64,
    },
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
            posture: Box::default(),
        }
    }
}

#[cfg(test)]
mod tests;
