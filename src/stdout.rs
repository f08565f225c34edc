//! A command's output on standard output. A reader that went away (`| head`) is the reader's
//! choice, not a failure of the command: every command that prints goes through here.

use std::io::Write as _;

/// Writes `bytes` to standard output and flushes; a closed pipe is success.
pub fn write_all(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}
