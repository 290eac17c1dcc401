//! The backup passphrase: from a file or the terminal (asked twice, never echoed), checked for
//! strength before an export, and zeroized after use.

use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use zeroize::Zeroizing;

use super::BackupError;

/// A passphrase carried in an admin request: zeroized on drop, never printed.
#[derive(Clone, serde::Serialize, serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(text: &str) -> SecretText {
        SecretText(text.to_string())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

pub const MIN_LENGTH: usize = 12;
/// Estimated bits below which a passphrase is refused (length × log2 of the character pool).
pub const MIN_ESTIMATED_BITS: f64 = 60.0;
/// A passphrase file larger than this is not a passphrase file.
const MAX_FILE_LEN: u64 = 4096;

/// Reads the first line of `path` (trailing newline removed).
pub fn from_file(path: &Path) -> Result<Zeroizing<String>, BackupError> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| BackupError::io(format!("opening passphrase file {}", path.display()), e))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_FILE_LEN)
        .read_to_string(&mut text)
        .map_err(|e| BackupError::io(format!("reading passphrase file {}", path.display()), e))?;
    let line = Zeroizing::new(text.lines().next().unwrap_or("").to_string());
    if line.is_empty() {
        return Err(BackupError::WeakPassphrase(format!(
            "passphrase file {} is empty",
            path.display()
        )));
    }
    Ok(line)
}

/// Why `passphrase` is too weak for a backup, or `None` when it is acceptable.
pub fn weakness(passphrase: &str) -> Option<String> {
    let chars: Vec<char> = passphrase.chars().collect();
    if chars.len() < MIN_LENGTH {
        return Some(format!(
            "it has {} characters; use at least {MIN_LENGTH} (a few random words work well)",
            chars.len()
        ));
    }
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 6 {
        return Some(format!(
            "it uses only {} different characters",
            distinct.len()
        ));
    }
    let has = |f: fn(&char) -> bool| chars.iter().any(f);
    let mut pool = 0u32;
    if has(char::is_ascii_lowercase) {
        pool += 26;
    }
    if has(char::is_ascii_uppercase) {
        pool += 26;
    }
    if has(char::is_ascii_digit) {
        pool += 10;
    }
    if has(|c| c.is_ascii_punctuation() || *c == ' ') {
        pool += 33;
    }
    if has(|c| !c.is_ascii()) {
        pool += 100;
    }
    let bits = chars.len() as f64 * f64::from(pool.max(1)).log2();
    if bits < MIN_ESTIMATED_BITS {
        return Some(format!(
            "estimated strength is {bits:.0} bits, below {MIN_ESTIMATED_BITS:.0}; make it \
             longer or mix letters, digits and symbols"
        ));
    }
    None
}

/// Refuses a weak passphrase with the reason.
pub fn check_strength(passphrase: &str) -> Result<(), BackupError> {
    match weakness(passphrase) {
        Some(reason) => Err(BackupError::WeakPassphrase(reason)),
        None => Ok(()),
    }
}

/// Asks on the terminal without echo; with `confirm`, asks twice and insists they match.
pub fn prompt(confirm: bool) -> Result<Zeroizing<String>, BackupError> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| {
            BackupError::io(
                "no terminal to ask for the passphrase (use --passphrase-file)",
                e,
            )
        })?;
    let first = ask(&tty, "backup passphrase: ")?;
    if confirm {
        let second = ask(&tty, "repeat the passphrase: ")?;
        if *first != *second {
            return Err(BackupError::WeakPassphrase(
                "the two passphrases differ".into(),
            ));
        }
    }
    Ok(first)
}

/// Asks `question` once on the terminal without echo (also for `keyward unseal`'s root key
/// passphrase, which shares this terminal handling).
pub fn prompt_hidden(question: &str) -> Result<Zeroizing<String>, BackupError> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| BackupError::io("no terminal to ask for the passphrase", e))?;
    ask(&tty, question)
}

fn ask(tty: &std::fs::File, question: &str) -> Result<Zeroizing<String>, BackupError> {
    let io = |e| BackupError::io("reading the passphrase from the terminal", e);
    (&*tty).write_all(question.as_bytes()).map_err(io)?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain old data; tcgetattr fully initialises it on success (checked).
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is an open descriptor owned by `tty`, borrowed for the call; saved is valid.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above; quiet is a valid termios derived from the current one.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    let mut line = Zeroizing::new(String::new());
    let read = std::io::BufReader::new(tty).read_line(&mut line);
    // SAFETY: restores the settings read above on the same open descriptor.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.map_err(io)?;
    while line.ends_with(['\n', '\r']) {
        line.pop();
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passphrases_are_refused_with_a_reason() {
        assert!(weakness("short").unwrap().contains("at least 12"));
        assert!(
            weakness("aaaaaaaaaaaaaaaa")
                .unwrap()
                .contains("different characters")
        );
        assert!(weakness("abcdefghijkl").unwrap().contains("bits"));
        assert_eq!(weakness("correct horse battery staple"), None);
        assert_eq!(weakness("Tr0ub4dor&3xyz"), None);
    }
}
