//! `keyward unseal`: gives a `[root] seal_at_start` server the root key passphrase it never
//! stores, over the admin socket (the server derives the root key and fills its master key
//! slot; see src/server/unseal.rs). Also the passphrase reading `keyward init
//! --passphrase-stdin` shares with it.

use std::io::{BufRead, IsTerminal};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use clap::Args;
use zeroize::Zeroizing;

use keyward::admin::protocol::{self, Refusal, Reply, Request, SOCKET_FILE};
use keyward::backup::passphrase::{SecretText, prompt_hidden};

use super::error::{CliError, Context};
use super::setup::{SetupArgs, load_config};

#[derive(Args)]
pub struct UnsealArgs {
    #[command(flatten)]
    setup: SetupArgs,
    /// Read the passphrase from the first line of standard input instead of asking on the
    /// terminal (the appliance console menu uses this).
    #[arg(long)]
    passphrase_stdin: bool,
}

/// Exit status 0 also when the server was unsealed already (said on stderr).
pub fn run(args: &UnsealArgs) -> Result<(), CliError> {
    let config = load_config(&args.setup)?;
    let socket = config.data_dir.join(SOCKET_FILE);
    let passphrase = if args.passphrase_stdin || !std::io::stdin().is_terminal() {
        read_stdin_line()?
    } else {
        prompt_hidden("root key passphrase: ")?
    };
    if passphrase.is_empty() {
        return Err(CliError::Usage("the passphrase is empty".into()));
    }
    let stream = UnixStream::connect(&socket).map_err(|e| {
        CliError::Failed(format!(
            "the server is not running (admin socket {}: {e}); start it first: \
             `systemctl start keyward`",
            socket.display()
        ))
    })?;
    let request = Request::Unseal {
        passphrase: SecretText::new(&passphrase),
    };
    drop(passphrase);
    // Argon2id with the appliance's parameters takes about a second; far less than this.
    match protocol::exchange_waiting(stream, &socket, &request, Duration::from_secs(120))? {
        Reply::Done => {
            println!("unsealed: key material is served again");
            Ok(())
        }
        Reply::Refused {
            kind: Refusal::WrongState,
            message,
        } if message.contains("already unsealed") => {
            eprintln!("{message}");
            Ok(())
        }
        Reply::Refused { message, .. } | Reply::Error { message } => Err(CliError::Server(message)),
        other => Err(CliError::unexpected(&other)),
    }
}

/// The first line of standard input, without its line end; zeroized when dropped.
pub fn read_stdin_line() -> Result<Zeroizing<String>, CliError> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the passphrase from standard input")?;
    while line.ends_with(['\n', '\r']) {
        line.pop();
    }
    Ok(line)
}
