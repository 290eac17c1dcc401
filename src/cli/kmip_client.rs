//! `keyward kmip create|get`: a tiny KMIP client for trying a setup out — one AES-256 Create or
//! one Get over mutual TLS, as a one-item KMIP 1.4 message written by the one request encoder
//! (`keyward::kmip::request`) from typed payloads.

use std::time::Duration;

use clap::{Args, Subcommand};

use keyward::client::KmipClient;
use keyward::kmip::attribute::{AttrKey, Attribute};
use keyward::kmip::codec::Codec;
use keyward::kmip::enums::{CryptographicAlgorithm, ObjectType};
use keyward::kmip::message::ProtocolVersion;
use keyward::kmip::object_payloads::{CreateRequest, CreateResponse, GetRequest, GetResponse};
use keyward::kmip::request::Request;
use keyward::kmip::request_attributes::RequestAttributes;
use keyward::kmip::{names, tag};
use keyward::ttlv::{self, Item, Limits, Value};

use super::error::{CliError, Context};
use super::kmip_server_args::KmipServerArgs;

#[derive(Args)]
pub struct KmipArgs {
    #[command(flatten)]
    kmip: KmipServerArgs,
    #[command(subcommand)]
    operation: KmipOperation,
}

#[derive(Subcommand)]
enum KmipOperation {
    /// Create an AES-256 key; prints its Unique Identifier.
    Create,
    /// Fetch a symmetric key; prints its key material as hex.
    Get {
        /// Unique Identifier printed by `create`.
        uid: String,
    },
}

/// The protocol version the client speaks.
const VERSION: ProtocolVersion = ProtocolVersion::new(1, 4);

/// Encrypt | Decrypt, as vCenter asks.
const USAGE_ENCRYPT_DECRYPT: i32 = 0x0C;

pub fn run(args: &KmipArgs) -> Result<(), CliError> {
    let tls = args.kmip.tls_config()?;
    let mut connection = KmipClient::connect(&args.kmip.server, tls, Duration::from_secs(30))?;
    let request = match &args.operation {
        KmipOperation::Create => Request::new(VERSION).payload(&create_aes256()),
        KmipOperation::Get { uid } => Request::new(VERSION).payload(&GetRequest::new(uid)),
    };
    let response = connection.roundtrip(&request.to_bytes())?;
    connection.close();
    let payload = response_payload(&response)?;
    match &args.operation {
        KmipOperation::Create => match CreateResponse::read(&payload, VERSION) {
            Ok(created) => println!("{}", created.unique_identifier),
            Err(_) => {
                return Err(CliError::Failed(
                    "the response carries no Unique Identifier".into(),
                ));
            }
        },
        KmipOperation::Get { .. } => {
            let got = GetResponse::read(&payload, VERSION).ok();
            match got
                .as_ref()
                .and_then(|g| g.object.key_block())
                .and_then(|block| block.key_material())
                .map(|i| &i.value)
            {
                Some(Value::ByteString(material)) => println!("{}", hex::encode(material)),
                _ => {
                    return Err(CliError::Failed(
                        "the response carries no raw key material".into(),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn standard(field: u32, value: Value) -> Attribute {
    Attribute {
        key: AttrKey::Standard(field),
        value,
    }
}

fn create_aes256() -> CreateRequest {
    CreateRequest {
        object_type: ObjectType::SymmetricKey.value(),
        attributes: RequestAttributes::of(vec![
            standard(
                tag::CRYPTOGRAPHIC_ALGORITHM,
                Value::Enumeration(CryptographicAlgorithm::Aes.value()),
            ),
            standard(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(256)),
            standard(
                tag::CRYPTOGRAPHIC_USAGE_MASK,
                Value::Integer(USAGE_ENCRYPT_DECRYPT),
            ),
        ]),
    }
}

/// The payload of a one-item response, or the server's reason for failing it.
fn response_payload(response: &[u8]) -> Result<Item, CliError> {
    let message = ttlv::decode(response, &Limits::default()).context("bad response")?;
    let item = message
        .child(tag::BATCH_ITEM)
        .ok_or_else(|| CliError::Failed("the response has no batch item".into()))?;
    let status = match item.child(tag::RESULT_STATUS).map(|i| &i.value) {
        Some(Value::Enumeration(status)) => *status,
        _ => {
            return Err(CliError::Failed("the response has no result status".into()));
        }
    };
    if status != 0 {
        let reason = match item.child(tag::RESULT_REASON).map(|i| &i.value) {
            Some(Value::Enumeration(r)) => {
                names::enum_name(tag::RESULT_REASON, *r).unwrap_or("unknown reason")
            }
            _ => "no reason given",
        };
        let text = match item.child(tag::RESULT_MESSAGE).map(|i| &i.value) {
            Some(Value::TextString(t)) => t.as_str(),
            _ => "",
        };
        return Err(CliError::Server(format!(
            "the server refused the request: {reason} {text}"
        )));
    }
    Ok(item
        .child(tag::RESPONSE_PAYLOAD)
        .cloned()
        .unwrap_or_else(|| Item::structure(tag::RESPONSE_PAYLOAD, vec![])))
}
