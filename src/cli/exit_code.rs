//! The exit codes every `keyward` command follows, and the table `--help` shows. In a file of
//! their own because both the CLI's error (`error.rs`) and the import's (`import/error.rs`) map
//! onto them, and the CLI error wraps the import error: holding the codes in `error.rs` would
//! make the two error files import each other.

/// Done.
pub const EXIT_OK: u8 = 0;
/// The command could not do what was asked, or a check it ran found a problem (a broken audit
/// chain, a failed conformance vector).
pub const EXIT_FAILURE: u8 = 1;
/// Bad arguments (clap uses the same code for the ones it rejects).
pub const EXIT_USAGE: u8 = 2;
/// What was named is not there: no such key or client; for `import`, some objects were
/// refused or failed (`import verify`: some differ).
pub const EXIT_NOT_FOUND: u8 = 3;
/// The key's state does not allow the operation.
pub const EXIT_WRONG_STATE: u8 = 4;
/// A destructive command was not confirmed.
pub const EXIT_NOT_CONFIRMED: u8 = 5;

/// The exit-code table every command follows; shown by `keyward --help`.
pub const EXIT_CODES_HELP: &str = "Exit codes (every command): 0 done; 1 failure, or a check \
    found a problem (audit chain broken, a vector failed); 2 usage error; 3 not found (key, \
    client), or an import left objects out (verify: some differ); 4 the key's state does not \
    allow it; 5 not confirmed.";
