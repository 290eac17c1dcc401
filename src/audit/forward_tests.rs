//! The syslog form of a record: RFC 5424 header fields where a collector expects them; the
//! TLS settings' checks that need no collector.

use super::Actor;
use super::forward::syslog_message;
use super::record::{AuditRecord, Outcome, StoredRecord};

#[test]
fn a_record_becomes_one_rfc5424_message() {
    let stored = StoredRecord {
        record: AuditRecord {
            seq: 42,
            time_ms: 1_764_979_200_123,
            actor: Actor::System,
            operation: "Get".into(),
            uids: vec!["u-1".into()],
            outcome: Outcome::Failure,
            reason: Some("ItemNotFound".into()),
            chain: None,
        },
        mac: "ab".repeat(32),
    };
    let message = syslog_message(&stored, "kms-1");
    let fields: Vec<&str> = message.splitn(8, ' ').collect();
    // PRI authpriv.warning (failure), version 1, RFC 3339 time in UTC.
    assert_eq!(fields[0], "<84>1");
    assert_eq!(fields[1], "2025-12-06T00:00:00.123Z");
    assert_eq!(fields[2], "kms-1");
    assert_eq!(fields[3], "keyward");
    assert_eq!(fields[5], "Get");
    assert!(fields[6].starts_with("[audit@32473"));
    assert!(message.contains("seq=\"42\" outcome=\"failure\"]"));
    // The MSG is the stored record, MAC included: a collector can verify the chain.
    let json = &message[message.find("] ").unwrap() + 2..];
    assert_eq!(StoredRecord::from_bytes(json.as_bytes()).unwrap(), stored);
}

#[test]
fn the_name_checked_is_the_host_of_the_address() {
    use super::forward::host_of;
    assert_eq!(host_of("siem.example:6514"), "siem.example");
    assert_eq!(host_of("127.0.0.1:6514"), "127.0.0.1");
    assert_eq!(host_of("[::1]:6514"), "::1");
    assert_eq!(host_of("siem.example"), "siem.example");
}

#[test]
fn a_client_certificate_without_its_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    let cert = rcgen::generate_simple_self_signed(vec!["siem.example".to_string()]).unwrap();
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let tls = super::forward::ForwardTls {
        ca_file: ca.clone(),
        cert_file: Some(ca.clone()),
        key_file: None,
        server_name: None,
    };
    let err = tls.client_config("siem.example:6514").unwrap_err();
    assert!(err.to_string().contains("both or neither"), "{err}");
    let empty = dir.path().join("empty.crt");
    std::fs::write(&empty, "").unwrap();
    let tls = super::forward::ForwardTls {
        ca_file: empty,
        cert_file: None,
        key_file: None,
        server_name: None,
    };
    assert!(tls.client_config("siem.example:6514").is_err());
    let tls = super::forward::ForwardTls {
        ca_file: ca,
        cert_file: None,
        key_file: None,
        server_name: None,
    };
    assert!(tls.client_config("siem.example:6514").is_ok());
}
