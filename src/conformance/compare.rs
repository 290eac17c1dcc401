//! Structural comparison of a server's response with the expected response of a vector.
//!
//! Everything is literal except what issue 3 names as "present and well-formed":
//! - the message time stamp, correlation values, and the free text of Result Message;
//! - dates the server sets (Initial Date, Last Change Date, ...) when the vector writes a literal
//!   date the client never sent; `$NOW±s` and dates the client sent are checked;
//! - digests, unless the vector's digest is the SHA-256 of material the client sent;
//! - key material the server generated (only its length); material the client sent is literal;
//! - the Random Number Generator description (the reference server's own generator);
//! - in a list of attribute names, an attribute KMIP lets the server leave unset (Object Group)
//!   may be missing; any other difference in the list still fails;
//! - an Attribute Index of 0 the vector leaves out (KMIP 1.x: an absent index means 0).
//!
//! Placeholders bind (`$UNIQUE_IDENTIFIER_n`) or are checked against the clock (`$NOW±s`).
//! Children are compared in order first, then, if that fails, as an unordered set (servers may
//! list attributes in another order).

use super::placeholder::{Bindings, Placeholder};
use crate::kmip::names;
use crate::kmip::tag;
use crate::kmip::xml::{
    Style, XmlNode, item_to_node, parse_datetime, parse_value, tag_from_text, tag_text, type_name,
};
use crate::ttlv::{Item, ItemType, Value};

/// How far a `$NOW` value may be from the local clock.
const NOW_TOLERANCE_SECS: i64 = 600;

/// Fields compared for presence and type only.
const SERVER_CHOSEN: &[u32] = &[
    tag::TIME_STAMP,
    tag::RESULT_MESSAGE,
    tag::SERVER_CORRELATION_VALUE,
    tag::DIGEST_VALUE,
    tag::INITIAL_DATE,
    tag::LAST_CHANGE_DATE,
    tag::ORIGINAL_CREATION_DATE,
    tag::ACTIVATION_DATE,
    tag::DEACTIVATION_DATE,
    tag::DESTROY_DATE,
    tag::COMPROMISE_DATE,
    tag::ARCHIVE_DATE,
];

/// Fields a server may add or leave out: correlation values, and Result Message, whose free
/// text (the vectors say "DENIED", "Check Failed") is informative only.
const OPTIONAL: &[u32] = &[
    tag::SERVER_CORRELATION_VALUE,
    tag::CLIENT_CORRELATION_VALUE,
    tag::RESULT_MESSAGE,
];

/// Attributes KMIP lets a server assign at creation or leave unset. In a list of attribute
/// names (Get Attribute List) the vector's name may be missing from our answer; the reference
/// servers disagree here even for identical conversations (SKFF-O-6-11 lists Object Group,
/// SKFF-O-3-11 and SKFF-M-9-11 do not), so only its absence is tolerated, never a different name.
const SERVER_MAY_ASSIGN: &[&str] = &["Object Group"];

/// Where and how a response differs from the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Tag names from the message root, e.g. `/ResponseMessage/BatchItem/ResultStatus`.
    pub path: String,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at {}: expected {}, got {}",
            self.path, self.expected, self.actual
        )
    }
}

/// Compares `actual` with `expected`; binds placeholders in `bindings` only when the whole
/// message matches.
pub fn compare_response(
    expected: &XmlNode,
    actual: &Item,
    bindings: &mut Bindings,
) -> Result<(), Mismatch> {
    let mut trial = bindings.clone();
    let mut path = Vec::new();
    compare_node(expected, actual, actual.tag, &mut path, &mut trial)?;
    *bindings = trial;
    Ok(())
}

fn mismatch(path: &[String], expected: impl Into<String>, actual: impl Into<String>) -> Mismatch {
    Mismatch {
        path: format!("/{}", path.join("/")),
        expected: expected.into(),
        actual: actual.into(),
    }
}

fn compare_node(
    expected: &XmlNode,
    actual: &Item,
    naming: u32,
    path: &mut Vec<String>,
    bindings: &mut Bindings,
) -> Result<(), Mismatch> {
    path.push(expected.tag.clone());
    let result = compare_here(expected, actual, naming, path, bindings);
    path.pop();
    result
}

fn compare_here(
    expected: &XmlNode,
    actual: &Item,
    naming: u32,
    path: &mut Vec<String>,
    bindings: &mut Bindings,
) -> Result<(), Mismatch> {
    let expected_tag = tag_from_text(&expected.tag).ok_or_else(|| {
        mismatch(
            path,
            format!("known tag {}", expected.tag),
            "(vector uses an unknown tag)",
        )
    })?;
    if expected_tag != actual.tag {
        return Err(mismatch(
            path,
            format!("tag {}", expected.tag),
            format!("tag {}", tag_text(actual.tag)),
        ));
    }
    let expected_type = expected.item_type.as_deref().unwrap_or("Structure");
    let actual_type = type_name(actual.item_type());
    if expected_type != actual_type {
        return Err(mismatch(
            path,
            format!("type {expected_type}"),
            format!("type {actual_type}"),
        ));
    }
    if naming == tag::RANDOM_NUMBER_GENERATOR && actual.item_type() == ItemType::Structure {
        // Describes the server's own generator (the vectors show the reference server's
        // ANSI X9.31); a different server can only be checked for a well-formed description.
        return match actual.child(tag::RNG_ALGORITHM).map(|a| &a.value) {
            Some(Value::Enumeration(_)) => Ok(()),
            _ => Err(mismatch(path, "an RNG Algorithm", "none")),
        };
    }
    if actual.item_type() == ItemType::Structure {
        return compare_children(&expected.children, actual.children(), path, bindings);
    }
    compare_leaf(expected, actual, naming, path, bindings)
}

fn compare_children(
    expected: &[XmlNode],
    actual: &[Item],
    path: &mut Vec<String>,
    bindings: &mut Bindings,
) -> Result<(), Mismatch> {
    let expected_tags: Vec<Option<u32>> = expected.iter().map(|e| tag_from_text(&e.tag)).collect();
    let expected: Vec<&XmlNode> = expected
        .iter()
        .zip(&expected_tags)
        .filter(|(_, t)| {
            !t.is_some_and(|t| OPTIONAL.contains(&t) && !actual.iter().any(|a| a.tag == t))
        })
        .map(|(e, _)| e)
        .filter(|e| !is_unassigned_optional_name(e, expected_tags.len(), actual))
        .collect();
    let actual: Vec<&Item> = actual
        .iter()
        .filter(|a| !OPTIONAL.contains(&a.tag) || expected_tags.contains(&Some(a.tag)))
        .filter(|a| !is_implied_index_zero(a, &expected_tags))
        .collect();
    let attribute_name = expected
        .iter()
        .find(|e| e.tag == "AttributeName")
        .and_then(|e| e.value.as_deref())
        .map(names::fold_spaces);
    let naming_of = |e: &XmlNode| {
        let t = tag_from_text(&e.tag).unwrap_or(0);
        match (t, attribute_name.as_deref().and_then(names::attribute_tag)) {
            (tag::ATTRIBUTE_VALUE, Some(attribute)) => attribute,
            _ => t,
        }
    };

    // In order first: the normal case, and the one whose first difference is most telling.
    let mut in_order = bindings.clone();
    let first_error = expected
        .iter()
        .zip(&actual)
        .find_map(|(e, a)| compare_node(e, a, naming_of(e), path, &mut in_order).err());
    if expected.len() == actual.len() {
        if first_error.is_none() {
            *bindings = in_order;
            return Ok(());
        }
        if let Some(unordered) = match_unordered(&expected, &actual, &naming_of, path, bindings) {
            *bindings = unordered;
            return Ok(());
        }
    }
    match first_error {
        Some(m) => Err(m),
        None => Err(count_mismatch(&expected, &actual, path)),
    }
}

/// The bindings after matching every expected child with a distinct actual one in any order
/// (servers may list attributes in another order), or `None` if some expected child has no
/// match. Greedy: each expected child takes the first unused actual child it matches.
fn match_unordered(
    expected: &[&XmlNode],
    actual: &[&Item],
    naming_of: &dyn Fn(&XmlNode) -> u32,
    path: &[String],
    bindings: &Bindings,
) -> Option<Bindings> {
    let mut unordered = bindings.clone();
    let mut used = vec![false; actual.len()];
    let all_matched = expected.iter().all(|e| {
        (0..actual.len()).any(|i| {
            if used[i] {
                return false;
            }
            let mut trial = unordered.clone();
            let matched =
                compare_node(e, actual[i], naming_of(e), &mut path.to_vec(), &mut trial).is_ok();
            if matched {
                used[i] = true;
                unordered = trial;
            }
            matched
        })
    });
    all_matched.then_some(unordered)
}

/// The mismatch of two lists that agree as far as the shorter goes: the first child one has
/// and the other lacks.
fn count_mismatch(expected: &[&XmlNode], actual: &[&Item], path: &[String]) -> Mismatch {
    let (n, m) = (expected.len(), actual.len());
    if n > m {
        mismatch(
            path,
            format!("child {}", expected[m].tag),
            "no further children",
        )
    } else {
        mismatch(
            path,
            "no further children",
            format!("child {}", tag_text(actual[n].tag)),
        )
    }
}

/// An Attribute Index of 0 where the vector writes none: KMIP 1.x reads a missing index as 0,
/// so the two say the same (Keyward names the instance of a multi-instance attribute).
fn is_implied_index_zero(actual: &Item, expected_tags: &[Option<u32>]) -> bool {
    actual.tag == tag::ATTRIBUTE_INDEX
        && actual.value == Value::Integer(0)
        && !expected_tags.contains(&Some(tag::ATTRIBUTE_INDEX))
}

/// An expected Attribute Name, in a list of several, naming an attribute the server may leave
/// unset, which the actual list does not name.
fn is_unassigned_optional_name(expected: &XmlNode, siblings: usize, actual: &[Item]) -> bool {
    if expected.tag != "AttributeName" || siblings < 2 {
        return false;
    }
    let Some(name) = expected.value.as_deref().map(names::fold_spaces) else {
        return false;
    };
    SERVER_MAY_ASSIGN.contains(&name.as_str())
        && !actual.iter().any(|a| {
            a.tag == tag::ATTRIBUTE_NAME
                && matches!(&a.value, Value::TextString(t) if names::fold_spaces(t) == name)
        })
}

fn compare_leaf(
    expected: &XmlNode,
    actual: &Item,
    naming: u32,
    path: &[String],
    bindings: &mut Bindings,
) -> Result<(), Mismatch> {
    let raw = expected.value.as_deref().unwrap_or("");
    let placeholder = Placeholder::parse(raw);
    if let Some(verdict) =
        server_chosen_verdict(raw, naming, placeholder.is_some(), actual, path, bindings)
    {
        return verdict;
    }
    match (placeholder, &actual.value) {
        (Some(placeholder), _) => compare_placeholder(placeholder, raw, actual, path, bindings),
        // Random bytes, or data under a key only the server knows or a randomized padding:
        // only the length is predictable.
        (None, Value::ByteString(got)) if naming == tag::DATA && bindings.unpredictable_data => {
            if got.len() * 2 == raw.trim().len() {
                Ok(())
            } else {
                Err(mismatch(
                    path,
                    format!("{} bytes", raw.trim().len() / 2),
                    format!("{} bytes", got.len()),
                ))
            }
        }
        (None, Value::ByteString(got)) if naming == tag::KEY_MATERIAL => {
            compare_key_material(raw, got, path, bindings)
        }
        (None, got) => {
            let item_type = actual.item_type();
            let want = parse_value(item_type, raw, naming).ok_or_else(|| {
                mismatch(
                    path,
                    format!("(unparseable vector value {raw:?})"),
                    show(actual),
                )
            })?;
            if &want == got {
                Ok(())
            } else {
                Err(mismatch(path, raw, show(actual)))
            }
        }
    }
}

/// The verdict on a field the server chooses (time stamps, its dates, digests), or `None`
/// when the vector's value is to be compared after all. Literal values of server-chosen
/// fields are illustrative; placeholders (`$NOW-3600`) are still checked, since the client
/// asked for them, and so are dates the client sent and digests of material it sent.
fn server_chosen_verdict(
    raw: &str,
    naming: u32,
    has_placeholder: bool,
    actual: &Item,
    path: &[String],
    bindings: &Bindings,
) -> Option<Result<(), Mismatch>> {
    // The message time stamp is the server's clock, illustrative even when written `$NOW`.
    if naming == tag::TIME_STAMP {
        return Some(Ok(()));
    }
    if !SERVER_CHOSEN.contains(&naming) || has_placeholder {
        return None;
    }
    if naming == tag::DIGEST_VALUE && digests_client_material(raw, bindings) {
        return Some(match &actual.value {
            Value::ByteString(got) if hex::encode(got) == raw.trim().to_ascii_lowercase() => Ok(()),
            _ => Err(mismatch(path, raw, show(actual))),
        });
    }
    let sent_by_client =
        parse_datetime(raw).is_some_and(|(secs, _)| bindings.client_dates.contains(&secs));
    (!sent_by_client).then_some(Ok(()))
}

/// A placeholder against the actual value: binds it on first sight, compares it with its
/// binding after (an echoed name rebinds), or checks `$NOW±s` against the clock.
fn compare_placeholder(
    placeholder: Placeholder,
    raw: &str,
    actual: &Item,
    path: &[String],
    bindings: &mut Bindings,
) -> Result<(), Mismatch> {
    match (placeholder, &actual.value) {
        (Placeholder::UniqueId(n), Value::TextString(got)) => match bindings.unique_id(n) {
            Some(bound) if bound != got => Err(mismatch(
                path,
                format!("{raw} = {bound:?}"),
                format!("{got:?}"),
            )),
            Some(_) => Ok(()),
            None => {
                bindings.bind_unique_id(n, got);
                Ok(())
            }
        },
        (Placeholder::ShortUniqueId(n), Value::ByteString(got)) => {
            let got = hex::encode(got);
            match bindings.short_unique_id(n) {
                Some(bound) if bound != got => Err(mismatch(path, format!("{raw} = {bound}"), got)),
                Some(_) => Ok(()),
                None => {
                    bindings.bind_short_unique_id(n, &got);
                    Ok(())
                }
            }
        }
        (Placeholder::Now(offset), Value::DateTime(got)) => {
            check_now(bindings.now() + offset, *got, raw, path)
        }
        (Placeholder::Named(name), Value::ByteString(got)) => {
            let got = hex::encode(got);
            match bindings.named(&name) {
                Some(_) if bindings.is_echoed(&name) => {
                    bindings.bind_named(&name, &got);
                    Ok(())
                }
                Some(bound) if bound != got => Err(mismatch(path, format!("{raw} = {bound}"), got)),
                Some(_) => Ok(()),
                None => {
                    bindings.bind_named(&name, &got);
                    Ok(())
                }
            }
        }
        _ => Err(mismatch(path, raw, "a value of another type")),
    }
}

/// `$NOW±s`: the actual date within [`NOW_TOLERANCE_SECS`] of `want`.
fn check_now(want: i64, got: i64, raw: &str, path: &[String]) -> Result<(), Mismatch> {
    if (got - want).abs() <= NOW_TOLERANCE_SECS {
        Ok(())
    } else {
        Err(mismatch(
            path,
            format!("{raw} (±{NOW_TOLERANCE_SECS} s of {want})"),
            got.to_string(),
        ))
    }
}

/// Key material the client registered must come back unchanged; of material the server
/// generated only the size is predictable.
fn compare_key_material(
    raw: &str,
    got: &[u8],
    path: &[String],
    bindings: &Bindings,
) -> Result<(), Mismatch> {
    let want = raw.trim().to_ascii_lowercase();
    if bindings.client_bytes.contains(&want) {
        if hex::encode(got) == want {
            return Ok(());
        }
        return Err(mismatch(
            path,
            "the key material the client sent",
            format!("<{} other bytes>", got.len()),
        ));
    }
    if got.len() * 2 == want.len() {
        Ok(())
    } else {
        Err(mismatch(
            path,
            format!("<{} bytes>", want.len() / 2),
            format!("<{} bytes>", got.len()),
        ))
    }
}

/// Whether a digest in the vector is the SHA-256 of material the client sent itself: that one
/// is determined, unlike the digest of a key the server generated.
fn digests_client_material(raw: &str, bindings: &Bindings) -> bool {
    use sha2::{Digest, Sha256};
    let want = raw.trim().to_ascii_lowercase();
    bindings.client_bytes.iter().any(|sent| {
        hex::decode(sent).is_ok_and(|bytes| hex::encode(Sha256::digest(&bytes)) == want)
    })
}

/// A value as the XML encoding writes it; byte strings that may be key material are not shown.
fn show(item: &Item) -> String {
    if let Value::ByteString(bytes) = &item.value
        && item.tag == tag::KEY_MATERIAL
    {
        return format!("<{} bytes>", bytes.len());
    }
    item_to_node(item, Style::Xml).value.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::xml::parse_node;

    fn response(status: u32, uid: &str, stamp: i64) -> Item {
        Item::structure(
            tag::RESPONSE_MESSAGE,
            vec![
                Item::structure(
                    tag::RESPONSE_HEADER,
                    vec![
                        Item::new(tag::TIME_STAMP, Value::DateTime(stamp)),
                        Item::new(tag::BATCH_COUNT, Value::Integer(1)),
                    ],
                ),
                Item::structure(
                    tag::BATCH_ITEM,
                    vec![
                        Item::new(tag::OPERATION, Value::Enumeration(1)),
                        Item::new(tag::RESULT_STATUS, Value::Enumeration(status)),
                        Item::structure(
                            tag::RESPONSE_PAYLOAD,
                            vec![
                                Item::new(tag::OBJECT_TYPE, Value::Enumeration(2)),
                                Item::new(tag::UNIQUE_IDENTIFIER, Value::TextString(uid.into())),
                            ],
                        ),
                    ],
                ),
            ],
        )
    }

    const EXPECTED: &str = r#"<ResponseMessage>
      <ResponseHeader>
        <TimeStamp type="DateTime" value="2012-04-27T08:12:24+00:00"/>
        <ServerCorrelationValue type="TextString" value="A5E83842-2A456820-4"/>
        <BatchCount type="Integer" value="1"/>
      </ResponseHeader>
      <BatchItem>
        <Operation type="Enumeration" value="Create"/>
        <ResultStatus type="Enumeration" value="Success"/>
        <ResponsePayload>
          <ObjectType type="Enumeration" value="SymmetricKey"/>
          <UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>
        </ResponsePayload>
      </BatchItem>
    </ResponseMessage>"#;

    #[test]
    fn match_binds_placeholders_and_tolerates_server_chosen_fields() {
        let expected = parse_node(EXPECTED).unwrap();
        let mut bindings = Bindings::default();
        compare_response(
            &expected,
            &response(0, "uid-1", 1_700_000_000),
            &mut bindings,
        )
        .unwrap();
        assert_eq!(bindings.unique_id(0), Some("uid-1"));
        // Once bound, a different identifier is a mismatch.
        let err = compare_response(&expected, &response(0, "uid-2", 1), &mut bindings).unwrap_err();
        assert_eq!(
            err.path,
            "/ResponseMessage/BatchItem/ResponsePayload/UniqueIdentifier"
        );
        assert!(
            err.expected.contains("uid-1") && err.actual.contains("uid-2"),
            "{err}"
        );
    }

    #[test]
    fn mismatch_reports_path_and_both_values() {
        let expected = parse_node(EXPECTED).unwrap();
        let mut bindings = Bindings::default();
        let err = compare_response(&expected, &response(1, "uid-1", 0), &mut bindings).unwrap_err();
        assert_eq!(err.path, "/ResponseMessage/BatchItem/ResultStatus");
        assert_eq!(err.expected, "Success");
        assert_eq!(err.actual, "OperationFailed");
        // A failed comparison binds nothing.
        assert_eq!(bindings.unique_id(0), None);
    }

    #[test]
    fn missing_and_extra_children_are_reported() {
        let expected = parse_node(EXPECTED).unwrap();
        let mut short = response(0, "u", 0);
        if let Value::Structure(children) = &mut short.value {
            children.pop();
        }
        let err = compare_response(&expected, &short, &mut Bindings::default()).unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.expected.as_str()),
            ("/ResponseMessage", "child BatchItem")
        );
    }

    #[test]
    fn now_placeholder_uses_clock_with_tolerance() {
        let expected =
            parse_node(r#"<ActivationDate type="DateTime" value="$NOW-3600"/>"#).unwrap();
        let mut bindings = Bindings::with_clock(10_000);
        // Activation Date is server-chosen, so wrap it in a field that is not.
        let expected_strict =
            parse_node(r#"<ProtectStopDate type="DateTime" value="$NOW-3600"/>"#).unwrap();
        let at = |t| Item::new(tag::PROTECT_STOP_DATE, Value::DateTime(t));
        compare_response(&expected_strict, &at(6_400 + 30), &mut bindings).unwrap();
        let err =
            compare_response(&expected_strict, &at(6_400 + 5_000), &mut bindings).unwrap_err();
        assert_eq!(err.path, "/ProtectStopDate");
        // A date the client asked for is checked even in a server-chosen field...
        let activation = |t| Item::new(tag::ACTIVATION_DATE, Value::DateTime(t));
        compare_response(&expected, &activation(6_400), &mut bindings).unwrap();
        assert!(compare_response(&expected, &activation(1), &mut bindings).is_err());
        // ...while a literal date there is the reference server's illustration.
        let literal =
            parse_node(r#"<ActivationDate type="DateTime" value="2012-04-27T08:12:24+00:00"/>"#)
                .unwrap();
        compare_response(&literal, &activation(1), &mut bindings).unwrap();
        // A date the client set itself must come back as sent.
        let mut told = Bindings::default();
        told.client_dates
            .insert(parse_datetime("2012-04-27T08:12:24+00:00").unwrap().0);
        assert!(compare_response(&literal, &activation(1), &mut told).is_err());
        // Only its type is fixed.
        assert!(
            compare_response(
                &literal,
                &Item::new(tag::ACTIVATION_DATE, Value::Integer(1)),
                &mut bindings
            )
            .is_err()
        );
    }

    #[test]
    fn digest_of_client_material_is_literal_and_of_server_material_is_not() {
        let mut bindings = Bindings::default();
        bindings.client_bytes.insert("00112233".into());
        let sha = "2a6ad53c3c6986406e1d6c7cfd06b69a5b5f23ba3c7ce8b7e0e1d4e4b7a4d0f4";
        let own = {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest([0u8, 0x11, 0x22, 0x33]))
        };
        assert_ne!(own, sha);
        let expected = |v: &str| {
            parse_node(&format!(r#"<DigestValue type="ByteString" value="{v}"/>"#)).unwrap()
        };
        let got = |h: &str| {
            Item::new(
                tag::DIGEST_VALUE,
                Value::ByteString(hex::decode(h).unwrap()),
            )
        };
        compare_response(&expected(&own), &got(&own), &mut bindings).unwrap();
        assert!(compare_response(&expected(&own), &got(sha), &mut bindings).is_err());
        compare_response(&expected(sha), &got(&own), &mut bindings).unwrap();
    }

    #[test]
    fn random_number_generator_needs_only_a_well_formed_description() {
        let expected = parse_node(
            r#"<RandomNumberGenerator><RNGAlgorithm type="Enumeration" value="ANSIX9_31"/></RandomNumberGenerator>"#,
        )
        .unwrap();
        let mut bindings = Bindings::default();
        let rng = |children| Item::structure(tag::RANDOM_NUMBER_GENERATOR, children);
        let described = rng(vec![Item::new(tag::RNG_ALGORITHM, Value::Enumeration(1))]);
        compare_response(&expected, &described, &mut bindings).unwrap();
        assert!(compare_response(&expected, &rng(vec![]), &mut bindings).is_err());
    }

    #[test]
    fn an_unassigned_object_group_may_be_missing_from_an_attribute_list_but_nothing_else() {
        let expected = parse_node(
            r#"<ResponsePayload>
              <AttributeName type="TextString" value="Name"/>
              <AttributeName type="TextString" value="Object Group"/>
              <AttributeName type="TextString" value="State"/>
            </ResponsePayload>"#,
        )
        .unwrap();
        let names = |list: &[&str]| {
            Item::structure(
                tag::RESPONSE_PAYLOAD,
                list.iter()
                    .map(|n| Item::new(tag::ATTRIBUTE_NAME, Value::TextString((*n).into())))
                    .collect(),
            )
        };
        let compare = |actual: &Item| compare_response(&expected, actual, &mut Bindings::default());
        compare(&names(&["Name", "State"])).unwrap();
        compare(&names(&["Name", "Object Group", "State"])).unwrap();
        assert!(compare(&names(&["Name"])).is_err(), "State missing");
        assert!(
            compare(&names(&["Name", "State", "Fresh"])).is_err(),
            "extra name"
        );
    }

    #[test]
    fn attributes_in_another_order_match_and_masks_compare_by_value() {
        let expected = parse_node(
            r#"<ResponsePayload>
              <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/>
                <AttributeValue type="Integer" value="Decrypt Encrypt"/></Attribute>
              <Attribute><AttributeName type="TextString" value="State"/>
                <AttributeValue type="Enumeration" value="PreActive"/></Attribute>
            </ResponsePayload>"#,
        )
        .unwrap();
        let attribute = |name: &str, value| {
            Item::structure(
                tag::ATTRIBUTE,
                vec![
                    Item::new(tag::ATTRIBUTE_NAME, Value::TextString(name.into())),
                    Item::new(tag::ATTRIBUTE_VALUE, value),
                ],
            )
        };
        let actual = Item::structure(
            tag::RESPONSE_PAYLOAD,
            vec![
                attribute("State", Value::Enumeration(1)),
                attribute("Cryptographic Usage Mask", Value::Integer(12)),
            ],
        );
        compare_response(&expected, &actual, &mut Bindings::default()).unwrap();
        let wrong = Item::structure(
            tag::RESPONSE_PAYLOAD,
            vec![
                attribute("State", Value::Enumeration(2)),
                attribute("Cryptographic Usage Mask", Value::Integer(12)),
            ],
        );
        let err = compare_response(&expected, &wrong, &mut Bindings::default()).unwrap_err();
        assert_eq!(err.path, "/ResponsePayload/Attribute/AttributeName");
    }

    #[test]
    fn an_attribute_index_of_zero_matches_a_missing_one_and_nothing_else_does() {
        let expected = parse_node(
            r#"<Attribute><AttributeName type="TextString" value="x-tag"/>
              <AttributeValue type="TextString" value="v"/></Attribute>"#,
        )
        .unwrap();
        let attribute = |index: Option<i32>| {
            let mut children = vec![Item::new(
                tag::ATTRIBUTE_NAME,
                Value::TextString("x-tag".into()),
            )];
            children.extend(index.map(|i| Item::new(tag::ATTRIBUTE_INDEX, Value::Integer(i))));
            children.push(Item::new(
                tag::ATTRIBUTE_VALUE,
                Value::TextString("v".into()),
            ));
            Item::structure(tag::ATTRIBUTE, children)
        };
        compare_response(&expected, &attribute(None), &mut Bindings::default()).unwrap();
        compare_response(&expected, &attribute(Some(0)), &mut Bindings::default()).unwrap();
        assert!(
            compare_response(&expected, &attribute(Some(1)), &mut Bindings::default()).is_err()
        );
    }

    #[test]
    fn result_message_text_is_informative_only() {
        let expected = parse_node(
            r#"<BatchItem><ResultStatus type="Enumeration" value="OperationFailed"/>
              <ResultReason type="Enumeration" value="PermissionDenied"/>
              <ResultMessage type="TextString" value="DENIED"/></BatchItem>"#,
        )
        .unwrap();
        let item = |reason, message: Option<&str>| {
            let mut children = vec![
                Item::new(tag::RESULT_STATUS, Value::Enumeration(1)),
                Item::new(tag::RESULT_REASON, Value::Enumeration(reason)),
            ];
            children.extend(
                message.map(|m| Item::new(tag::RESULT_MESSAGE, Value::TextString(m.into()))),
            );
            Item::structure(tag::BATCH_ITEM, children)
        };
        compare_response(
            &expected,
            &item(0x0C, Some("not in this state")),
            &mut Bindings::default(),
        )
        .unwrap();
        compare_response(&expected, &item(0x0C, None), &mut Bindings::default()).unwrap();
        let err = compare_response(
            &expected,
            &item(0x43, Some("DENIED")),
            &mut Bindings::default(),
        )
        .unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.actual.as_str()),
            ("/BatchItem/ResultReason", "WrongKeyLifecycleState")
        );
    }

    #[test]
    fn key_material_random_unless_the_client_sent_it() {
        let expected = parse_node(r#"<KeyMaterial type="ByteString" value="00112233"/>"#).unwrap();
        let actual = Item::new(tag::KEY_MATERIAL, Value::ByteString(vec![9, 9, 9, 9]));
        compare_response(&expected, &actual, &mut Bindings::default()).unwrap();
        let short = Item::new(tag::KEY_MATERIAL, Value::ByteString(vec![9]));
        assert!(compare_response(&expected, &short, &mut Bindings::default()).is_err());
        let mut bindings = Bindings::default();
        bindings.client_bytes.insert("00112233".into());
        let err = compare_response(&expected, &actual, &mut bindings).unwrap_err();
        assert_eq!(err.actual, "<4 other bytes>");
    }
}
