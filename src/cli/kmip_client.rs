//! `keyward kmip create|get`: a tiny KMIP client for trying a setup out — one AES-256 Create or
//! one Get over mutual TLS, with the request built by hand as a one-item KMIP 1.4 message.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use keyward::client::{self, KmipClient};
use keyward::kmip::{names, tag};
use keyward::ttlv::{self, Item, Limits, Value};

use super::error::{CliError, Context};

#[derive(Args)]
pub struct KmipArgs {
    /// Server address, e.g. localhost:5696. The host name must match the server certificate.
    #[arg(long, value_name = "HOST:PORT")]
    server: String,
    /// CA certificate that signed the server certificate (ca.crt from `client issue`).
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// Client certificate (client.crt).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// Client private key (client.key).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
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

pub fn run(args: &KmipArgs) -> Result<(), CliError> {
    let tls = client::tls_config(&args.ca, &args.cert, &args.key)?;
    let mut connection = KmipClient::connect(&args.server, tls, Duration::from_secs(30))?;
    let request = match &args.operation {
        KmipOperation::Create => request("Create", create_aes256_payload()?)?,
        KmipOperation::Get { uid } => request(
            "Get",
            vec![Item::new(
                tag::UNIQUE_IDENTIFIER,
                Value::TextString(uid.clone()),
            )],
        )?,
    };
    let response = connection.roundtrip(&request)?;
    connection.close();
    let payload = response_payload(&response)?;
    match &args.operation {
        KmipOperation::Create => match payload.child(tag::UNIQUE_IDENTIFIER).map(|i| &i.value) {
            Some(Value::TextString(uid)) => println!("{uid}"),
            _ => {
                return Err(CliError::Failed(
                    "the response carries no Unique Identifier".into(),
                ));
            }
        },
        KmipOperation::Get { .. } => match find(&payload, tag::KEY_MATERIAL).map(|i| &i.value) {
            Some(Value::ByteString(material)) => println!("{}", hex::encode(material)),
            _ => {
                return Err(CliError::Failed(
                    "the response carries no raw key material".into(),
                ));
            }
        },
    }
    Ok(())
}

fn enumeration(field: u32, name: &str) -> Result<Value, CliError> {
    names::enum_value(field, name)
        .map(Value::Enumeration)
        .ok_or_else(|| CliError::Failed(format!("unknown enumeration {name}")))
}

/// A one-item KMIP 1.4 request message.
fn request(operation: &str, payload: Vec<Item>) -> Result<Vec<u8>, CliError> {
    let header = Item::structure(
        tag::REQUEST_HEADER,
        vec![
            Item::structure(
                tag::PROTOCOL_VERSION,
                vec![
                    Item::new(tag::PROTOCOL_VERSION_MAJOR, Value::Integer(1)),
                    Item::new(tag::PROTOCOL_VERSION_MINOR, Value::Integer(4)),
                ],
            ),
            Item::new(tag::BATCH_COUNT, Value::Integer(1)),
        ],
    );
    let batch_item = Item::structure(
        tag::BATCH_ITEM,
        vec![
            Item::new(tag::OPERATION, enumeration(tag::OPERATION, operation)?),
            Item::structure(tag::REQUEST_PAYLOAD, payload),
        ],
    );
    Ok(ttlv::encode(&Item::structure(
        tag::REQUEST_MESSAGE,
        vec![header, batch_item],
    )))
}

fn attribute(name: &str, value: Value) -> Item {
    Item::structure(
        tag::ATTRIBUTE,
        vec![
            Item::new(tag::ATTRIBUTE_NAME, Value::TextString(name.to_string())),
            Item::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

fn create_aes256_payload() -> Result<Vec<Item>, CliError> {
    Ok(vec![
        Item::new(
            tag::OBJECT_TYPE,
            enumeration(tag::OBJECT_TYPE, "SymmetricKey")?,
        ),
        Item::structure(
            tag::TEMPLATE_ATTRIBUTE,
            vec![
                attribute(
                    "Cryptographic Algorithm",
                    enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, "AES")?,
                ),
                attribute("Cryptographic Length", Value::Integer(256)),
                // Encrypt | Decrypt, as vCenter asks.
                attribute("Cryptographic Usage Mask", Value::Integer(0x0C)),
            ],
        ),
    ])
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

fn find(item: &Item, wanted: u32) -> Option<&Item> {
    if item.tag == wanted {
        return Some(item);
    }
    item.children().iter().find_map(|child| find(child, wanted))
}
