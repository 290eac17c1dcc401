//! `keyward ttlv decode|encode` through the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

const KEYWARD: &str = env!("CARGO_BIN_EXE_keyward");

/// Discover Versions request, KMIP 1.1 (vcenter-kmip.md Appendix A.1).
const DISCOVER_VERSIONS_HEX: &str = "\
42007801 00000060 42007701 00000038 42006901 00000020 42006a02 00000004
00000001 00000000 42006b02 00000004 00000001 00000000 42000d02 00000004
00000001 00000000 42000f01 00000018 42005c05 00000004 0000001e 00000000
42007901 00000000
";

fn keyward(args: &[&str], stdin: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child = Command::new(KEYWARD)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keyward");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait for keyward");
    (
        output.status.success(),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn compact_hex() -> String {
    DISCOVER_VERSIONS_HEX
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

#[test]
fn appendix_a1_decodes_to_xml_and_encodes_back_to_the_same_bytes() {
    let (ok, xml, err) = keyward(&["ttlv", "decode"], DISCOVER_VERSIONS_HEX.as_bytes());
    assert!(ok, "{err}");
    let xml = String::from_utf8(xml).expect("utf-8 XML");
    assert!(xml.contains("<RequestMessage>"), "{xml}");
    assert!(
        xml.contains(r#"<Operation type="Enumeration" value="DiscoverVersions"/>"#),
        "{xml}"
    );
    let (ok, hex, err) = keyward(
        &["ttlv", "encode", "--from", "xml", "--to", "hex"],
        xml.as_bytes(),
    );
    assert!(ok, "{err}");
    assert_eq!(String::from_utf8(hex).expect("utf-8").trim(), compact_hex());
}

#[test]
fn json_and_raw_bytes_round_trip() {
    let bytes = hex::decode(compact_hex()).expect("hex");
    let (ok, json, err) = keyward(&["ttlv", "decode", "--from", "bin", "--to", "json"], &bytes);
    assert!(ok, "{err}");
    assert!(
        String::from_utf8_lossy(&json).contains("DiscoverVersions"),
        "{}",
        String::from_utf8_lossy(&json)
    );
    let (ok, back, err) = keyward(&["ttlv", "encode", "--from", "json", "--to", "bin"], &json);
    assert!(ok, "{err}");
    assert_eq!(back, bytes);
}

#[test]
fn malformed_input_is_refused_with_a_message() {
    let (ok, _, err) = keyward(&["ttlv", "decode"], b"42007801 0000");
    assert!(!ok);
    assert!(err.contains("not a TTLV message"), "{err}");
    let (ok, _, err) = keyward(&["ttlv", "decode"], b"zz");
    assert!(!ok);
    assert!(err.contains("not hex"), "{err}");
}
