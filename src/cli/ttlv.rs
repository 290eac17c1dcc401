//! `keyward ttlv decode|encode`: converts KMIP messages between TTLV (hex or raw bytes) and the
//! KMIP XML or JSON encodings, stdin to stdout, for reading captures and writing test messages.

use std::io::{Read, Write};

use clap::{Subcommand, ValueEnum};

use keyward::kmip::{json, xml};
use keyward::ttlv::{self, Limits};

use super::error::{CliError, Context};

#[derive(Subcommand)]
pub enum TtlvCommand {
    /// Read a TTLV message (hex or raw bytes) on stdin and write it as XML or JSON.
    Decode {
        /// How stdin is written: hex digits (white space ignored) or raw bytes.
        #[arg(long, value_enum, default_value_t = BinaryForm::Hex)]
        from: BinaryForm,
        #[arg(long, value_enum, default_value_t = TextForm::Xml)]
        to: TextForm,
    },
    /// Read a KMIP XML or JSON message on stdin and write its TTLV as hex or raw bytes.
    Encode {
        #[arg(long, value_enum, default_value_t = TextForm::Xml)]
        from: TextForm,
        #[arg(long, value_enum, default_value_t = BinaryForm::Hex)]
        to: BinaryForm,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BinaryForm {
    Hex,
    Bin,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TextForm {
    Xml,
    Json,
}

pub fn run(command: &TtlvCommand) -> Result<(), CliError> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("cannot read stdin")?;
    let output = match command {
        TtlvCommand::Decode { from, to } => decode(&input, *from, *to)?,
        TtlvCommand::Encode { from, to } => encode(&input, *from, *to)?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&output)
        .and_then(|()| stdout.flush())
        .context("cannot write stdout")
}

fn decode(input: &[u8], from: BinaryForm, to: TextForm) -> Result<Vec<u8>, CliError> {
    let bytes = match from {
        BinaryForm::Bin => input.to_vec(),
        BinaryForm::Hex => {
            let digits: Vec<u8> = input
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            hex::decode(digits).context("stdin is not hex")?
        }
    };
    let item = ttlv::decode(&bytes, &Limits::default()).context("stdin is not a TTLV message")?;
    let mut text = match to {
        TextForm::Xml => xml::to_xml(&item),
        TextForm::Json => json::to_json_string(&item),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text.into_bytes())
}

fn encode(input: &[u8], from: TextForm, to: BinaryForm) -> Result<Vec<u8>, CliError> {
    let text = std::str::from_utf8(input).context("stdin is not UTF-8")?;
    let item = match from {
        TextForm::Xml => xml::from_xml(text),
        TextForm::Json => json::from_json(text),
    }
    .context("stdin is not a KMIP message")?;
    let bytes = ttlv::encode(&item);
    Ok(match to {
        BinaryForm::Bin => bytes,
        BinaryForm::Hex => format!("{}\n", hex::encode(bytes)).into_bytes(),
    })
}
