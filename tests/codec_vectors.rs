//! Every message of the OASIS vector files survives TTLV → XML → TTLV and TTLV → JSON → TTLV
//! byte for byte, and every message (placeholders replaced by dummy values) parses.

use std::path::{Path, PathBuf};

use keyward::kmip::json::{from_json, to_json_string};
use keyward::kmip::xml::{XmlNode, from_xml, node_to_item, parse_document, to_xml};
use keyward::ttlv::frame::{FrameStatus, inspect_header};
use keyward::ttlv::{Limits, decode, encode};

fn vector_files() -> Vec<PathBuf> {
    vector_files_in("oasis-profiles", 60)
}

/// The `.xml` files under `../shared/vectors/<set>`; at least `minimum` of them.
fn vector_files_in(set: &str, minimum: usize) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "xml") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors")
        .join(set);
    let root = if root.exists() {
        root
    } else {
        Path::new("/work/shared/vectors").join(set)
    };
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    assert!(
        files.len() >= minimum,
        "vector files not found under {}",
        root.display()
    );
    files
}

fn has_placeholder(node: &XmlNode) -> bool {
    node.value.as_deref().is_some_and(|v| v.starts_with('$'))
        || node.children.iter().any(has_placeholder)
}

/// Dummy values of the right type, so typing can be checked without a server.
fn substitute_dummies(node: &mut XmlNode) {
    node.walk_mut(&mut |n| {
        let Some(value) = n.value.as_deref().filter(|v| v.starts_with('$')) else {
            return;
        };
        let replacement = match n.item_type.as_deref() {
            Some("DateTime") => "2020-01-01T00:00:00+00:00".to_owned(),
            Some("ByteString") => "00112233".to_owned(),
            _ => format!("dummy-{}", value.trim_start_matches('$')),
        };
        n.value = Some(replacement);
    });
}

#[test]
fn every_vector_message_round_trips_through_xml_and_json() {
    let (mut files, mut messages, mut literal, mut with_placeholders) = (0, 0, 0, 0);
    for file in vector_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let nodes = parse_document(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        files += 1;
        for (index, mut node) in nodes.into_iter().enumerate() {
            assert!(
                node.tag == "RequestMessage" || node.tag == "ResponseMessage",
                "{}: unexpected element {}",
                file.display(),
                node.tag
            );
            messages += 1;
            let where_ = format!("{} message #{index} ({})", file.display(), node.tag);
            if has_placeholder(&node) {
                with_placeholders += 1;
                substitute_dummies(&mut node);
            } else {
                literal += 1;
            }
            let item = node_to_item(&node).unwrap_or_else(|e| panic!("{where_}: {e}"));
            let bytes = encode(&item);
            assert_eq!(
                decode(&bytes, &Limits::default()).unwrap(),
                item,
                "{where_}: TTLV"
            );
            assert_eq!(
                inspect_header(&bytes, item.tag, &Limits::default()),
                FrameStatus::Length(bytes.len()),
                "{where_}: framing"
            );

            let via_xml = from_xml(&to_xml(&item)).unwrap_or_else(|e| panic!("{where_}: XML: {e}"));
            assert_eq!(encode(&via_xml), bytes, "{where_}: TTLV → XML → TTLV");
            let via_json =
                from_json(&to_json_string(&item)).unwrap_or_else(|e| panic!("{where_}: JSON: {e}"));
            assert_eq!(encode(&via_json), bytes, "{where_}: TTLV → JSON → TTLV");
        }
    }
    eprintln!(
        "vector codec round trip: {files} files, {messages} messages \
         ({literal} without placeholders, {with_placeholders} with dummies substituted)"
    );
    assert!(messages > 500 && literal > 0);
}

/// The profiles beyond symmetric keys (asymmetric keys, cryptographic services, tape libraries,
/// self-encrypting drives, ...) use most of the KMIP 2.1 tags and enumerations: every one of
/// their names must be known to the codec (no hex fallback) and survive XML and JSON.
#[test]
fn every_more_profiles_name_is_known_and_round_trips() {
    let mut messages = 0;
    for file in vector_files_in("more-profiles", 61) {
        let text = std::fs::read_to_string(&file).unwrap();
        let nodes = parse_document(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (index, mut node) in nodes.into_iter().enumerate() {
            let where_ = format!("{} message #{index} ({})", file.display(), node.tag);
            substitute_dummies(&mut node);
            let item = node_to_item(&node).unwrap_or_else(|e| panic!("{where_}: {e}"));
            let xml = to_xml(&item);
            // Hex is right only where the vector itself writes hex (extension values).
            for hex in xml.split("\"0x").skip(1) {
                let hex = hex.split('"').next().unwrap_or_default();
                assert!(
                    text.contains(&format!("\"0x{hex}\"")),
                    "{where_}: 0x{hex} fell back to hex, so its name is unknown:\n{xml}"
                );
            }
            let via_xml = from_xml(&xml).unwrap_or_else(|e| panic!("{where_}: XML: {e}"));
            assert_eq!(
                encode(&via_xml),
                encode(&item),
                "{where_}: TTLV → XML → TTLV"
            );
            let via_json =
                from_json(&to_json_string(&item)).unwrap_or_else(|e| panic!("{where_}: JSON: {e}"));
            assert_eq!(
                encode(&via_json),
                encode(&item),
                "{where_}: TTLV → JSON → TTLV"
            );
            messages += 1;
        }
    }
    eprintln!("more-profiles codec round trip: {messages} messages");
    assert!(messages > 300);
}

/// Answers each request with the vector's own expected response (placeholders filled the way a
/// server would fill them), so every file must play through as a pass. This exercises loading,
/// placeholder resolution and binding, and the comparison on every message of every file.
#[test]
fn every_vector_file_plays_against_its_own_recorded_answers() {
    use keyward::conformance::{Outcome, load_vector_file, play_file};
    use keyward::kmip::xml::format_datetime;

    let mut passed = 0;
    for path in vector_files() {
        let file = load_vector_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut answers = file.exchanges.iter().map(|e| e.expected.clone());
        let outcome = play_file(&file, |_request: &[u8]| -> Result<Vec<u8>, String> {
            let mut node = answers.next().flatten().ok_or("no recorded answer")?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            node.walk_mut(&mut |n| {
                let Some(v) = n.value.as_deref().filter(|v| v.starts_with('$')) else {
                    return;
                };
                n.value = Some(if let Some(i) = v.strip_prefix("$UNIQUE_IDENTIFIER_") {
                    format!("server-uid-{i}")
                } else if v.starts_with("$SHORT_UNIQUE_IDENTIFIER_") {
                    "a1b2c3d4".to_owned()
                } else {
                    format_datetime(now, None)
                });
            });
            Ok(encode(&node_to_item(&node).map_err(|e| e.to_string())?))
        });
        assert_eq!(outcome, Outcome::Pass, "{}", path.display());
        passed += 1;
    }
    eprintln!("vector replay: {passed} files played through against their recorded answers");
}

/// The XML we write uses the vectors' own spellings: for every message, the names of
/// enumerations and mask flags we emit are exactly those in the file.
#[test]
fn emitted_names_match_vector_spellings() {
    use keyward::kmip::xml::{Style, item_to_node};

    fn same_names(original: &XmlNode, emitted: &XmlNode, at: &str) {
        assert_eq!(original.tag, emitted.tag, "{at}");
        assert_eq!(
            original.children.len(),
            emitted.children.len(),
            "{at}/{}",
            original.tag
        );
        let (Some(a), Some(b)) = (original.value.as_deref(), emitted.value.as_deref()) else {
            for (o, e) in original.children.iter().zip(&emitted.children) {
                same_names(o, e, &format!("{at}/{}", original.tag));
            }
            return;
        };
        match original.item_type.as_deref() {
            Some("Enumeration") => assert_eq!(a, b, "{at}/{}", original.tag),
            Some("Integer") if a.parse::<i64>().is_err() => {
                let mut want: Vec<&str> = a.split_whitespace().collect();
                let mut got: Vec<&str> = b.split_whitespace().collect();
                want.sort_unstable();
                got.sort_unstable();
                assert_eq!(want, got, "{at}/{}", original.tag);
            }
            _ => {}
        }
    }

    let mut checked = 0;
    for file in vector_files() {
        let nodes = parse_document(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for mut node in nodes {
            substitute_dummies(&mut node);
            let emitted = item_to_node(&node_to_item(&node).unwrap(), Style::Xml);
            same_names(&node, &emitted, &file.display().to_string());
            checked += 1;
        }
    }
    assert!(checked > 500);
}

/// The replay test above can fail: a changed answer is caught and located.
#[test]
fn a_wrong_recorded_answer_fails_with_its_path() {
    use keyward::conformance::{Outcome, load_vector_file, play_file};

    let path = vector_files()
        .into_iter()
        .find(|p| p.ends_with("SKLC-M-1-21.xml"))
        .unwrap();
    let file = load_vector_file(&path).unwrap();
    let outcome = play_file(&file, |_request: &[u8]| -> Result<Vec<u8>, String> {
        let mut node = file.exchanges[0].expected.clone().ok_or("no answer")?;
        substitute_dummies(&mut node);
        node.walk_mut(&mut |n| {
            if n.value.as_deref() == Some("Success") {
                n.value = Some("OperationFailed".into());
            }
        });
        Ok(encode(&node_to_item(&node).map_err(|e| e.to_string())?))
    });
    match outcome {
        Outcome::Fail {
            exchange: 0,
            reason,
        } => {
            assert!(
                reason.contains("/ResponseMessage/BatchItem/ResultStatus"),
                "{reason}"
            )
        }
        other => panic!("expected a failure, got {other}"),
    }
}

/// The decoded vCenter messages of the spec's Appendix A, written in the XML encoding, encode
/// to the recorded wire size and SHA-256 (XML → TTLV against an independent reference).
#[test]
fn appendix_a_messages_from_xml_match_recorded_hashes() {
    use sha2::{Digest, Sha256};

    const HEADER_1_1: &str = r#"<ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/>
        <ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>"#;
    let attribute = |name: &str, t: &str, v: &str| {
        format!(
            r#"<Attribute><AttributeName type="TextString" value="{name}"/><AttributeValue type="{t}" value="{v}"/></Attribute>"#
        )
    };
    let add = |id: &str, name: &str, value: &str| {
        format!(
            r#"<BatchItem><Operation type="Enumeration" value="AddAttribute"/>
            <UniqueBatchItemID type="ByteString" value="{id}"/>
            <RequestPayload><UniqueIdentifier type="TextString" value="1"/>{}</RequestPayload></BatchItem>"#,
            attribute(name, "TextString", value)
        )
    };
    let create = format!(
        r#"<RequestMessage><RequestHeader>{HEADER_1_1}<BatchCount type="Integer" value="1"/></RequestHeader>
        <BatchItem><Operation type="Enumeration" value="Create"/>
        <UniqueBatchItemID type="ByteString" value="514c4b4301000000"/>
        <RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/>
        <TemplateAttribute>{}{}{}</TemplateAttribute></RequestPayload></BatchItem></RequestMessage>"#,
        attribute("Cryptographic Algorithm", "Enumeration", "AES"),
        attribute("Cryptographic Usage Mask", "Integer", "Encrypt Decrypt"),
        attribute("Cryptographic Length", "Integer", "256"),
    );
    let add_batch = format!(
        r#"<RequestMessage><RequestHeader>{HEADER_1_1}<BatchCount type="Integer" value="3"/></RequestHeader>
        {}{}{}</RequestMessage>"#,
        add(
            "514c4b4301000000",
            "x-Product_Version",
            "7.0.3 build-19480866"
        ),
        add("514c4b4302000000", "x-Vendor", "VMware, Inc."),
        add("514c4b4303000000", "x-Product", "VMware vSphere"),
    );
    let get_response = format!(
        r#"<ResponseMessage><ResponseHeader>{HEADER_1_1}<TimeStamp type="DateTime" value="1743675720"/>
        <BatchCount type="Integer" value="1"/></ResponseHeader>
        <BatchItem><Operation type="Enumeration" value="Get"/>
        <UniqueBatchItemID type="ByteString" value="514c4b4301000000"/>
        <ResultStatus type="Enumeration" value="Success"/>
        <ResponsePayload><ObjectType type="Enumeration" value="SymmetricKey"/>
        <UniqueIdentifier type="TextString" value="2"/>
        <SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/>
        <KeyValue><KeyMaterial type="ByteString" value="{}"/></KeyValue>
        <CryptographicAlgorithm type="Enumeration" value="AES"/>
        <CryptographicLength type="Integer" value="256"/></KeyBlock></SymmetricKey>
        </ResponsePayload></BatchItem></ResponseMessage>"#,
        "00".repeat(32)
    );
    let state_response = format!(
        r#"<ResponseMessage><ResponseHeader>{HEADER_1_1}<TimeStamp type="DateTime" value="1743675720"/>
        <BatchCount type="Integer" value="1"/></ResponseHeader>
        <BatchItem><Operation type="Enumeration" value="GetAttributes"/>
        <UniqueBatchItemID type="ByteString" value="514c4b4301000000"/>
        <ResultStatus type="Enumeration" value="Success"/>
        <ResponsePayload><UniqueIdentifier type="TextString" value="2"/>{}</ResponsePayload>
        </BatchItem></ResponseMessage>"#,
        attribute("State", "Enumeration", "PreActive")
    );
    let cases = [
        (
            "A.2",
            create,
            312,
            "a2843af15e01829db8744a00dab837d2d9dfb6dbb723c7de5835d4776c573f85",
        ),
        (
            "A.3",
            add_batch,
            440,
            "b80d56496b46ebf41304149f92fb6f42df408c4b915b458a597ab870252c659e",
        ),
        (
            "A.4",
            get_response,
            296,
            "f8283d926c5d8c7646d399d2b5c8bdb727181e0c2f88d99962424befc2b86492",
        ),
        (
            "A.5",
            state_response,
            208,
            "f7a0b5795a4cae46c2b0f8a0e26f6e35ff0f4014aff5a85a09967007e672058c",
        ),
    ];
    for (name, xml, size, sha) in cases {
        let bytes = encode(&from_xml(&xml).unwrap_or_else(|e| panic!("{name}: {e}")));
        assert_eq!(bytes.len(), size, "{name} size");
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha, "{name} SHA-256");
    }
}
