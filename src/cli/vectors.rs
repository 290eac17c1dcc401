//! `keyward vectors run`: plays OASIS KMIP test vectors against a running server, each file on
//! its own TLS connection, and reports per file, per profile/version and in total.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use keyward::client::KmipClient;
use keyward::conformance::{
    Outcome, Summary, VectorFile, collect_vector_files, load_vector_file, play_file,
};

use super::error::{CliError, Context};
use super::exit_code::EXIT_FAILURE;
use super::kmip_server_args::KmipServerArgs;

/// Long enough for a slow key derivation on a loaded machine; bounds a hung server.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Subcommand)]
pub enum VectorsCommand {
    /// Play every vector file (`*.xml`) under the given paths against a server.
    Run(RunArgs),
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    kmip: KmipServerArgs,
    /// Vector files, or directories searched recursively for `*.xml`.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// Runs the command; a failed vector is said in the report on stdout and fails with
/// [`CliError::Reported`].
pub fn run(command: &VectorsCommand) -> Result<(), CliError> {
    let VectorsCommand::Run(args) = command;
    let tls = args.kmip.tls_config()?;
    let files = collect_vector_files(&args.paths).context("looking for vector files")?;
    if files.is_empty() {
        return Err(CliError::Usage(
            "no vector files (*.xml) under the given paths".into(),
        ));
    }
    let mut summary = Summary::default();
    for path in &files {
        let (file, outcome) = match load_vector_file(path) {
            Ok(file) => {
                let outcome = play_over_tls(&file, &args.kmip.server, tls.clone());
                (file, outcome)
            }
            Err(e) => (
                VectorFile {
                    name: path.display().to_string(),
                    exchanges: Vec::new(),
                },
                Outcome::Fail {
                    exchange: 0,
                    reason: e.to_string(),
                },
            ),
        };
        println!("{}: {outcome}", path.display());
        summary.record(&file, &outcome);
    }
    println!("{summary}");
    if summary.total().failed == 0 {
        Ok(())
    } else {
        // The report on stdout already says which vectors failed.
        Err(CliError::Reported {
            what: "some vectors failed",
            code: EXIT_FAILURE,
        })
    }
}

fn play_over_tls(
    file: &VectorFile,
    server: &str,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Outcome {
    let mut connection = match KmipClient::connect(server, tls, EXCHANGE_TIMEOUT) {
        Ok(connection) => connection,
        Err(e) => {
            return Outcome::Fail {
                exchange: 0,
                reason: e.to_string(),
            };
        }
    };
    let outcome = play_file(file, |request: &[u8]| connection.roundtrip(request));
    connection.close();
    outcome
}
