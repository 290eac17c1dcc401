//! Codec tests: the spec's worked examples, the captured vCenter message, every error kind,
//! and a deterministic pseudo-random round trip / robustness run.

use super::frame::{FrameStatus, inspect_header};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex::decode(clean).unwrap()
}

fn roundtrip(item: &Item, expected_hex: &str) {
    let expected = hex(expected_hex);
    assert_eq!(encode(item), expected, "encoding of {item:?}");
    assert_eq!(encoded_len(item), expected.len());
    assert_eq!(&decode(&expected, &Limits::default()).unwrap(), item);
}

#[test]
fn spec_example_integer() {
    roundtrip(
        &Item::new(0x420020, Value::Integer(8)),
        "420020 02 00000004 00000008 00000000",
    );
}

#[test]
fn spec_example_text_string() {
    roundtrip(
        &Item::new(0x420020, Value::TextString("Hello World".into())),
        "420020 07 0000000B 48656C6C6F20576F726C64 0000000000",
    );
}

#[test]
fn spec_example_byte_string() {
    roundtrip(
        &Item::new(0x420020, Value::ByteString(vec![1, 2, 3])),
        "420020 08 00000003 010203 0000000000",
    );
}

#[test]
fn spec_example_boolean() {
    roundtrip(
        &Item::new(0x420020, Value::Boolean(true)),
        "420020 06 00000008 0000000000000001",
    );
}

#[test]
fn spec_example_big_integer() {
    // 1234567890000000000000000000 = 0x03FD35EB6BC2DF4618080000; the encoder sign-extends to 16 bytes.
    let short = Item::new(0x420020, Value::BigInteger(hex("03FD35EB6BC2DF4618080000")));
    let expected = hex("420020 04 00000010 0000000003FD35EB6BC2DF4618080000");
    assert_eq!(encode(&short), expected);
    let decoded = decode(&expected, &Limits::default()).unwrap();
    assert_eq!(
        decoded.value,
        Value::BigInteger(hex("0000000003FD35EB6BC2DF4618080000"))
    );
    assert_eq!(encode(&decoded), expected);
}

#[test]
fn big_integer_negative_is_sign_extended() {
    let item = Item::new(0x420020, Value::BigInteger(vec![0xFF, 0x01]));
    assert_eq!(encode(&item), hex("420020 04 00000008 FFFFFFFFFFFFFF01"));
}

#[test]
fn spec_example_structure() {
    let item = Item::structure(
        0x420020,
        vec![
            Item::new(0x420004, Value::Enumeration(254)),
            Item::new(0x420005, Value::Integer(255)),
        ],
    );
    roundtrip(
        &item,
        "420020 01 00000020 420004 05 00000004 000000FE 00000000 420005 02 00000004 000000FF 00000000",
    );
}

const A1_HEX: &str = "42007801 00000060 42007701 00000038 42006901 00000020 42006a02 00000004
00000001 00000000 42006b02 00000004 00000001 00000000 42000d02 00000004
00000001 00000000 42000f01 00000018 42005c05 00000004 0000001e 00000000
42007901 00000000";

#[test]
fn appendix_a1_discover_versions_reencodes_byte_equal() {
    let bytes = hex(A1_HEX);
    assert_eq!(bytes.len(), 104);
    let item = decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(item.tag, 0x420078);
    let batch = item.child(0x42000F).unwrap();
    assert_eq!(batch.child(0x42005C).unwrap().value, Value::Enumeration(30));
    assert_eq!(
        batch.child(0x420079).unwrap().value,
        Value::Structure(vec![])
    );
    assert_eq!(encode(&item), bytes);
    assert_eq!(
        inspect_header(&bytes, 0x420078, &Limits::default()),
        FrameStatus::Length(104)
    );
}

fn err_kind(bytes: &[u8], limits: &Limits) -> DecodeError {
    decode(bytes, limits).unwrap_err()
}

#[test]
fn error_truncated_header_and_body() {
    let bytes = hex(A1_HEX);
    assert_eq!(
        err_kind(&bytes[..5], &Limits::default()).kind,
        DecodeErrorKind::Truncated
    );
    assert_eq!(
        err_kind(&[], &Limits::default()).kind,
        DecodeErrorKind::Truncated
    );
    // A wrong type byte is invalid however many bytes follow.
    assert_eq!(
        err_kind(&hex("420078 0F 00"), &Limits::default()).kind,
        DecodeErrorKind::UnknownType(0x0F)
    );
    let e = err_kind(&bytes[..50], &Limits::default());
    assert_eq!(e.kind, DecodeErrorKind::Truncated);
    assert_eq!((e.offset, e.path.clone()), (0, vec![0x420078]));
}

#[test]
fn error_too_large_checked_first() {
    let limits = Limits {
        max_message_bytes: 64,
        ..Limits::default()
    };
    // Whole input above the limit: reported before any header is read (even garbage).
    assert_eq!(
        err_kind(&[0xFF; 65], &limits).kind,
        DecodeErrorKind::TooLarge(65)
    );
    // A header that declares more than the limit, with only the header present.
    let e = err_kind(&hex("420078 01 00001000"), &limits);
    assert_eq!(e.kind, DecodeErrorKind::TooLarge(8 + 0x1000));
}

#[test]
fn error_unknown_type() {
    let e = err_kind(
        &hex("420020 0C 00000004 00000008 00000000"),
        &Limits::default(),
    );
    assert_eq!(e.kind, DecodeErrorKind::UnknownType(0x0C));
}

#[test]
fn error_bad_lengths() {
    let cases = [
        "420020 02 00000008 0000000000000008",  // Integer must be 4
        "420020 03 00000004 00000008 00000000", // Long must be 8
        "420020 06 00000004 00000001 00000000", // Boolean must be 8
        "420020 04 00000000",                   // Big Integer must be non-zero
        "420020 04 00000004 00000001 00000000", // Big Integer multiple of 8
        "420020 01 00000004 00000000 00000000", // Structure multiple of 8
    ];
    for case in cases {
        let e = err_kind(&hex(case), &Limits::default());
        assert!(
            matches!(e.kind, DecodeErrorKind::BadLength { .. }),
            "{case}: {e}"
        );
    }
}

#[test]
fn error_overrun_reports_offset_and_path() {
    // Structure of 16 bytes whose child claims a 16-byte text (24 with header): overruns the parent.
    let e = err_kind(
        &hex("420078 01 00000010 420077 07 00000010 0000000000000000"),
        &Limits::default(),
    );
    assert_eq!(e.kind, DecodeErrorKind::Overrun);
    assert_eq!(e.offset, 8);
    assert_eq!(e.path, vec![0x420078, 0x420077]);
    // Fewer than 8 bytes left for a child header cannot happen with lengths multiple of 8,
    // but an inner structure can still claim more than its parent holds.
    let e = err_kind(
        &hex("420078 01 00000008 420077 01 00000008"),
        &Limits::default(),
    );
    assert_eq!(e.kind, DecodeErrorKind::Overrun);
}

#[test]
fn error_non_zero_padding() {
    let e = err_kind(
        &hex("420020 02 00000004 00000008 00000001"),
        &Limits::default(),
    );
    assert_eq!(e.kind, DecodeErrorKind::NonZeroPadding);
    let e = err_kind(
        &hex("420020 08 00000003 010203 0000000001"),
        &Limits::default(),
    );
    assert_eq!(e.kind, DecodeErrorKind::NonZeroPadding);
}

#[test]
fn error_bad_boolean() {
    let e = err_kind(
        &hex("420020 06 00000008 0000000000000002"),
        &Limits::default(),
    );
    assert_eq!(e.kind, DecodeErrorKind::BadBoolean);
}

#[test]
fn error_bad_utf8() {
    let e = err_kind(
        &hex("420020 07 00000002 C328 000000000000"),
        &Limits::default(),
    );
    assert_eq!(e.kind, DecodeErrorKind::BadUtf8);
}

fn nested(depth: usize) -> Item {
    let mut item = Item::new(0x420020, Value::Integer(1));
    for _ in 0..depth {
        item = Item::structure(0x420021, vec![item]);
    }
    item
}

#[test]
fn error_too_deep() {
    let limits = Limits {
        max_depth: 4,
        ..Limits::default()
    };
    assert!(decode(&encode(&nested(4)), &limits).is_ok());
    let e = err_kind(&encode(&nested(5)), &limits);
    assert_eq!(e.kind, DecodeErrorKind::TooDeep);
    assert_eq!(e.path.len(), 5);
}

#[test]
fn error_too_many_items() {
    let item = Item::structure(
        0x420020,
        (0..10)
            .map(|i| Item::new(0x420021, Value::Integer(i)))
            .collect(),
    );
    let limits = Limits {
        max_items: 10,
        ..Limits::default()
    };
    assert_eq!(
        err_kind(&encode(&item), &limits).kind,
        DecodeErrorKind::TooManyItems
    );
    let limits = Limits {
        max_items: 11,
        ..Limits::default()
    };
    assert!(decode(&encode(&item), &limits).is_ok());
}

#[test]
fn error_trailing_bytes() {
    let mut bytes = hex(A1_HEX);
    bytes.extend_from_slice(&[0; 8]);
    let e = err_kind(&bytes, &Limits::default());
    assert_eq!(e.kind, DecodeErrorKind::TrailingBytes);
    assert_eq!(e.offset, 104);
}

#[test]
fn frame_header_rules() {
    let limits = Limits {
        max_message_bytes: 256,
        ..Limits::default()
    };
    assert_eq!(
        inspect_header(&hex("420078 01 0000"), 0x420078, &limits),
        FrameStatus::NeedHeader
    );
    assert_eq!(
        inspect_header(&hex("420078 01 00000060"), 0x420078, &limits),
        FrameStatus::Length(104)
    );
    assert_eq!(
        inspect_header(&hex("42007B 01 00000060"), 0x420078, &limits),
        FrameStatus::Invalid
    );
    assert_eq!(
        inspect_header(&hex("420078 02 00000060"), 0x420078, &limits),
        FrameStatus::Invalid
    );
    assert_eq!(
        inspect_header(&hex("420078 01 00000061"), 0x420078, &limits),
        FrameStatus::Invalid
    );
    assert_eq!(
        inspect_header(&hex("420078 01 00000100"), 0x420078, &limits),
        FrameStatus::TooLarge(264)
    );
    assert_eq!(
        inspect_header(&hex("420078 01 000000F8"), 0x420078, &limits),
        FrameStatus::Length(256)
    );
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn random_item(rng: &mut Rng, depth: usize) -> Item {
    let tag = 0x420000 | rng.below(0x160) as u32;
    let kind = if depth >= 5 {
        1 + rng.below(10)
    } else {
        rng.below(11)
    };
    let value = match kind {
        0 => Value::Structure(
            (0..rng.below(5))
                .map(|_| random_item(rng, depth + 1))
                .collect(),
        ),
        1 => Value::Integer(rng.next() as i32),
        2 => Value::LongInteger(rng.next() as i64),
        3 => {
            let n = 8 * (1 + rng.below(4) as usize);
            Value::BigInteger(rng.bytes(n))
        }
        4 => Value::Enumeration(rng.next() as u32),
        5 => Value::Boolean(rng.below(2) == 1),
        6 => {
            let len = rng.below(20) as usize;
            Value::TextString(
                (0..len)
                    .map(|_| char::from(b' ' + rng.below(95) as u8))
                    .chain(['é'])
                    .collect(),
            )
        }
        7 => {
            let n = rng.below(40) as usize;
            Value::ByteString(rng.bytes(n))
        }
        8 => Value::DateTime(rng.next() as i64),
        9 => Value::Interval(rng.next() as u32),
        _ => Value::DateTimeExtended(rng.next() as i64),
    };
    Item::new(tag, value)
}

#[test]
fn random_trees_roundtrip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let item = random_item(&mut rng, 0);
        let bytes = encode(&item);
        assert_eq!(bytes.len(), encoded_len(&item));
        assert_eq!(decode(&bytes, &Limits::default()).unwrap(), item);
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let limits = Limits {
        max_message_bytes: 4096,
        max_depth: 8,
        max_items: 200,
    };
    let mut decoded_ok = 0;
    for round in 0..20_000 {
        let bytes = if round % 2 == 0 {
            let mut bytes = encode(&random_item(&mut rng, 0));
            for _ in 0..=rng.below(3) {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.below(bytes.len() as u64) as usize;
                match rng.below(3) {
                    0 => bytes[at] = rng.next() as u8,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, rng.next() as u8),
                }
            }
            bytes
        } else {
            let n = rng.below(64) as usize;
            rng.bytes(n)
        };
        if let Ok(item) = decode(&bytes, &limits) {
            // Whatever decodes must re-encode to exactly the input (the decoder is strict).
            assert_eq!(encode(&item), bytes);
            decoded_ok += 1;
        }
    }
    assert!(
        decoded_ok > 100,
        "mutations should not all be fatal ({decoded_ok})"
    );
}
