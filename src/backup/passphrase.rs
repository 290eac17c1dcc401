//! The backup passphrase: from a file or the terminal (asked twice, never echoed), checked for
//! strength before an export, and zeroized after use.

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
    has_terminal("no terminal to ask for the passphrase (use --passphrase-file)")?;
    let first = ask("backup passphrase: ")?;
    if confirm {
        let second = ask("repeat the passphrase: ")?;
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
    has_terminal("no terminal to ask for the passphrase")?;
    ask(question)
}

/// A clear refusal up front when the process has no controlling terminal to ask on.
fn has_terminal(why: &str) -> Result<(), BackupError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map(drop)
        .map_err(|e| BackupError::io(why, e))
}

/// rpassword turns the terminal's echo off for the answer and restores it afterwards.
fn ask(question: &str) -> Result<Zeroizing<String>, BackupError> {
    rpassword::prompt_password(question)
        .map(Zeroizing::new)
        .map_err(|e| BackupError::io("reading the passphrase from the terminal", e))
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
