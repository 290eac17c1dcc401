//! Key Format Types and key wrapping over a real server and mutual TLS: Get converts public and
//! private keys (RSA, EC P-256/384/521, Ed25519, X25519) into every format KMIP names for them,
//! Register accepts those formats and stores what the cryptographic services read, impossible
//! conversions answer Key Format Type Not Supported and malformed keys Invalid Field (with a
//! log line, the server still serving), and Get wraps keys with RSA-OAEP under a client's RSA
//! public key.
//!
//! Keys are drawn by aws-lc-rs (through `keyward::crypto::keypair`) on the test side; every
//! served form is read back and compared with aws-lc-rs's own PKCS#8 / SubjectPublicKeyInfo of
//! the same key, and converted keys are used (sign and verify, decrypt) with aws-lc-rs.

mod common;

use aws_lc_rs::signature::{self, KeyPair as _};
use common::*;
use keyward::crypto::asymmetric::{self, RsaPadding};
use keyward::crypto::aws_lc_ffi;
use keyward::crypto::digest::HashAlgorithm;
use keyward::crypto::key_format::{self, AsymmetricKey, Encoding, KeyFamily};
use keyward::crypto::keypair::{self, Curve, KeyPairSpec};
use keyward::kmip::enums::{
    CryptographicAlgorithm as Alg, KeyFormatType as Kft, ObjectType, Operation, ResultReason,
};
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value};

const V2_1: (i32, i32) = (2, 1);
const V1_4: (i32, i32) = (1, 4);

const SIGN: i32 = 0x01;
const VERIFY: i32 = 0x02;
const ENCRYPT: i32 = 0x04;
const DECRYPT: i32 = 0x08;
const WRAP_KEY: i32 = 0x10;
const EXPORT: i32 = 0x40;

const P_256: u32 = 0x07;

fn e(t: u32, v: u32) -> Item {
    Item::new(t, Value::Enumeration(v))
}
fn s(t: u32, children: Vec<Item>) -> Item {
    Item::structure(t, children)
}
fn bytes(t: u32, v: &[u8]) -> Item {
    Item::new(t, Value::ByteString(v.to_vec()))
}
fn op(o: Operation) -> u32 {
    o.value()
}

fn object_tag(object_type: ObjectType) -> u32 {
    match object_type {
        ObjectType::PrivateKey => tag::PRIVATE_KEY,
        ObjectType::PublicKey => tag::PUBLIC_KEY,
        ObjectType::SymmetricKey => tag::SYMMETRIC_KEY,
        ObjectType::SecretData => tag::SECRET_DATA,
        other => panic!("no key block object: {other:?}"),
    }
}

/// Register over `version` (2.x Attributes, 1.x Template-Attribute); returns the UID.
fn register(
    tls: &mut Tls,
    version: (i32, i32),
    object_type: ObjectType,
    algorithm: Alg,
    mask: i32,
    format: Kft,
    key_material: Item,
) -> Item {
    let attributes = if version.0 >= 2 {
        s(
            tag::ATTRIBUTES,
            vec![
                e(tag::CRYPTOGRAPHIC_ALGORITHM, algorithm.value()),
                Item::new(tag::CRYPTOGRAPHIC_USAGE_MASK, Value::Integer(mask)),
            ],
        )
    } else {
        s(
            tag::TEMPLATE_ATTRIBUTE,
            vec![
                attribute(
                    "Cryptographic Algorithm",
                    Value::Enumeration(algorithm.value()),
                ),
                attribute("Cryptographic Usage Mask", Value::Integer(mask)),
            ],
        )
    };
    let block = s(
        tag::KEY_BLOCK,
        vec![
            e(tag::KEY_FORMAT_TYPE, format.value()),
            s(tag::KEY_VALUE, vec![key_material]),
        ],
    );
    tls.call(
        version,
        op(Operation::Register),
        vec![
            e(tag::OBJECT_TYPE, object_type.value()),
            attributes,
            s(object_tag(object_type), vec![block]),
        ],
    )
}

/// Registers as [`register`] does, then activates; returns the UID.
fn register_active(
    tls: &mut Tls,
    version: (i32, i32),
    object_type: ObjectType,
    algorithm: Alg,
    mask: i32,
    format: Kft,
    key_material: Item,
) -> String {
    let id = registered(&register(
        tls,
        version,
        object_type,
        algorithm,
        mask,
        format,
        key_material,
    ));
    success_payload(&tls.call(version, op(Operation::Activate), vec![uid(&id)]));
    id
}

fn registered(bi: &Item) -> String {
    text_of(
        success_payload(bi)
            .child(tag::UNIQUE_IDENTIFIER)
            .expect("UID"),
    )
    .to_string()
}

fn material_bytes(b: &[u8]) -> Item {
    bytes(tag::KEY_MATERIAL, b)
}

/// Get in `format` (None: as stored) → the Key Block.
fn get_block(tls: &mut Tls, version: (i32, i32), id: &str, format: Option<Kft>) -> Item {
    let mut payload = vec![uid(id)];
    payload.extend(format.map(|f| e(tag::KEY_FORMAT_TYPE, f.value())));
    let bi = tls.call(version, op(Operation::Get), payload);
    key_block(&success_payload(&bi)).clone()
}

/// The private and public halves' UIDs a Create Key Pair answered.
fn pair_ids(bi: &Item) -> (String, String) {
    let payload = success_payload(bi);
    let id = |t, what| text_of(payload.child(t).expect(what)).to_string();
    (
        id(tag::PRIVATE_KEY_UNIQUE_IDENTIFIER, "private"),
        id(tag::PUBLIC_KEY_UNIQUE_IDENTIFIER, "public"),
    )
}

fn get_failed(tls: &mut Tls, version: (i32, i32), id: &str, format: Kft) -> Option<u32> {
    let bi = tls.call(
        version,
        op(Operation::Get),
        vec![uid(id), e(tag::KEY_FORMAT_TYPE, format.value())],
    );
    assert_eq!(result_status(&bi), status::OPERATION_FAILED, "{bi:?}");
    result_reason(&bi)
}

fn block_format(block: &Item) -> u32 {
    enumeration(block.child(tag::KEY_FORMAT_TYPE).expect("Key Format Type"))
}

fn block_material(block: &Item) -> &Item {
    block
        .child(tag::KEY_VALUE)
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .expect("Key Material")
}

fn big(material: &Item, t: u32) -> Vec<u8> {
    match &material.child(t).unwrap_or_else(|| panic!("{t:06X}")).value {
        Value::BigInteger(b) => {
            assert!(
                b.len() % 8 == 0 || b.len() < 8,
                "Big Integer of {} bytes",
                b.len()
            );
            let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
            b[start..].to_vec()
        }
        other => panic!("not a Big Integer: {other:?}"),
    }
}

fn big_item(t: u32, magnitude: &[u8]) -> Item {
    let mut v = vec![0u8];
    v.extend_from_slice(magnitude);
    Item::new(t, Value::BigInteger(v))
}

/// A served Key Block read back as a key (Transparent structures through their integers).
fn served_key(family: KeyFamily, private: bool, block: &Item) -> AsymmetricKey {
    let format = Kft::from_u32(block_format(block)).expect("known format");
    let material = block_material(block);
    let encoding = match format {
        Kft::Pkcs1 => Some(Encoding::Pkcs1),
        Kft::Pkcs8 => Some(Encoding::Pkcs8),
        Kft::X509 => Some(Encoding::Spki),
        Kft::EcPrivateKey => Some(Encoding::Sec1),
        Kft::Raw => Some(Encoding::Raw),
        _ => None,
    };
    if let Some(encoding) = encoding {
        return key_format::read(family, private, encoding, bytes_of(material))
            .unwrap_or_else(|e| panic!("served {format:?} does not read back: {e}"));
    }
    match format {
        Kft::TransparentRsaPrivateKey => {
            let parts = key_format::RsaPrivateParts {
                modulus: big(material, tag::MODULUS),
                public_exponent: big(material, tag::PUBLIC_EXPONENT),
                private_exponent: big(material, tag::PRIVATE_EXPONENT).into(),
                p: big(material, tag::P).into(),
                q: big(material, tag::Q).into(),
                prime_exponent_p: big(material, tag::PRIME_EXPONENT_P).into(),
                prime_exponent_q: big(material, tag::PRIME_EXPONENT_Q).into(),
                crt_coefficient: big(material, tag::CRT_COEFFICIENT).into(),
            };
            AsymmetricKey::RsaPrivate(key_format::rsa_private_from_parts(&parts).expect("PKCS#1"))
        }
        Kft::TransparentRsaPublicKey => {
            let parts = key_format::RsaPublicParts {
                modulus: big(material, tag::MODULUS),
                public_exponent: big(material, tag::PUBLIC_EXPONENT),
            };
            AsymmetricKey::RsaPublic(key_format::rsa_public_from_parts(&parts).expect("PKCS#1"))
        }
        Kft::TransparentEcPrivateKey
        | Kft::TransparentEcdsaPrivateKey
        | Kft::TransparentEcdhPrivateKey => {
            let curve = curve_of(material);
            let d = big(material, tag::D);
            AsymmetricKey::EcPrivate(
                curve,
                key_format::ec_private_from_scalar(curve, &d).expect("SEC1"),
            )
        }
        Kft::TransparentEcPublicKey
        | Kft::TransparentEcdsaPublicKey
        | Kft::TransparentEcdhPublicKey => {
            let curve = curve_of(material);
            let key = key_format::read(
                KeyFamily::Ec,
                false,
                Encoding::Raw,
                bytes_of(material.child(tag::Q_STRING).expect("Q String")),
            )
            .expect("point");
            assert!(matches!(key, AsymmetricKey::EcPublic(c, _) if c == curve));
            key
        }
        other => panic!("unexpected served format {other:?}"),
    }
}

fn curve_of(material: &Item) -> Curve {
    match enumeration(material.child(tag::RECOMMENDED_CURVE).expect("curve")) {
        0x07 => Curve::P256,
        0x0A => Curve::P384,
        0x0D => Curve::P521,
        other => panic!("curve {other:#x}"),
    }
}

/// PKCS#8 of a private key, SubjectPublicKeyInfo of a public one: what aws-lc-rs generated.
fn canonical(key: &AsymmetricKey) -> Vec<u8> {
    let encoding = if key.is_private() {
        Encoding::Pkcs8
    } else {
        Encoding::Spki
    };
    key_format::write(key, encoding)
        .expect("canonical")
        .to_vec()
}

/// Formats Get must serve for a key of `family`, by half.
fn formats(family: KeyFamily, private: bool, v2: bool) -> Vec<Kft> {
    match (family, private) {
        (KeyFamily::Rsa, true) => vec![Kft::Pkcs1, Kft::Pkcs8, Kft::TransparentRsaPrivateKey],
        (KeyFamily::Rsa, false) => vec![Kft::Pkcs1, Kft::X509, Kft::TransparentRsaPublicKey],
        (KeyFamily::Ec, true) if v2 => {
            vec![Kft::Pkcs8, Kft::EcPrivateKey, Kft::TransparentEcPrivateKey]
        }
        (KeyFamily::Ec, true) => vec![
            Kft::Pkcs8,
            Kft::EcPrivateKey,
            Kft::TransparentEcdsaPrivateKey,
            Kft::TransparentEcdhPrivateKey,
            Kft::TransparentEcPrivateKey,
        ],
        (KeyFamily::Ec, false) if v2 => vec![Kft::X509, Kft::Raw, Kft::TransparentEcPublicKey],
        (KeyFamily::Ec, false) => vec![
            Kft::X509,
            Kft::Raw,
            Kft::TransparentEcdsaPublicKey,
            Kft::TransparentEcdhPublicKey,
            Kft::TransparentEcPublicKey,
        ],
        (KeyFamily::Ed25519 | KeyFamily::X25519, true) => vec![Kft::Pkcs8, Kft::Raw],
        (KeyFamily::Ed25519 | KeyFamily::X25519, false) => vec![Kft::X509, Kft::Raw],
    }
}

/// Formats Get must refuse with Key Format Type Not Supported.
fn impossible(family: KeyFamily, private: bool) -> Vec<Kft> {
    match (family, private) {
        (KeyFamily::Rsa, true) => vec![
            Kft::X509,
            Kft::Raw,
            Kft::EcPrivateKey,
            Kft::TransparentRsaPublicKey,
        ],
        (KeyFamily::Rsa, false) => vec![Kft::Pkcs8, Kft::Raw, Kft::TransparentRsaPrivateKey],
        (KeyFamily::Ec, true) => vec![
            Kft::Pkcs1,
            Kft::X509,
            Kft::Raw,
            Kft::TransparentRsaPrivateKey,
        ],
        (KeyFamily::Ec, false) => vec![Kft::Pkcs1, Kft::Pkcs8, Kft::TransparentEcPrivateKey],
        (_, true) => vec![
            Kft::Pkcs1,
            Kft::X509,
            Kft::EcPrivateKey,
            Kft::TransparentEcPrivateKey,
        ],
        (_, false) => vec![Kft::Pkcs1, Kft::Pkcs8, Kft::TransparentEcPublicKey],
    }
}

/// Every format of `id` read back equals `expected` (canonical bytes); impossible ones are
/// refused.
fn check_all_formats(
    tls: &mut Tls,
    version: (i32, i32),
    id: &str,
    family: KeyFamily,
    private: bool,
    expected: &[u8],
) {
    for format in formats(family, private, version.0 >= 2) {
        let block = get_block(tls, version, id, Some(format));
        assert_eq!(
            block_format(&block),
            format.value(),
            "{family:?} {format:?}"
        );
        let key = served_key(family, private, &block);
        assert_eq!(
            canonical(&key),
            expected,
            "{family:?} private={private} as {format:?}"
        );
    }
    for format in impossible(family, private) {
        assert_eq!(
            get_failed(tls, version, id, format),
            Some(ResultReason::KeyFormatTypeNotSupported.value()),
            "{family:?} private={private} as {format:?}"
        );
    }
}

fn algorithm_of(family: KeyFamily) -> Alg {
    match family {
        KeyFamily::Rsa => Alg::Rsa,
        KeyFamily::Ec | KeyFamily::X25519 => Alg::Ec,
        KeyFamily::Ed25519 => Alg::Ed25519,
    }
}

#[test]
fn create_key_pair_halves_are_served_in_every_format_and_the_keys_work() {
    let mut appliance = Appliance::new(&["app"]);
    let server = appliance.start();
    let mut tls = server.connect(appliance.creds("app"));
    for (algorithm, length, curve, family) in [
        (Alg::Rsa, 2048, None, KeyFamily::Rsa),
        (Alg::Ecdsa, 256, Some(P_256), KeyFamily::Ec),
        (Alg::Ec, 384, None, KeyFamily::Ec),
        (Alg::Ed25519, 256, None, KeyFamily::Ed25519),
    ] {
        let mut common = vec![
            e(tag::CRYPTOGRAPHIC_ALGORITHM, algorithm.value()),
            Item::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(length)),
        ];
        if let Some(c) = curve {
            common.push(s(
                tag::CRYPTOGRAPHIC_DOMAIN_PARAMETERS,
                vec![e(tag::RECOMMENDED_CURVE, c)],
            ));
        }
        let bi = tls.call(
            V2_1,
            op(Operation::CreateKeyPair),
            vec![
                s(tag::COMMON_ATTRIBUTES, common),
                s(
                    tag::PRIVATE_KEY_ATTRIBUTES,
                    vec![Item::new(
                        tag::CRYPTOGRAPHIC_USAGE_MASK,
                        Value::Integer(SIGN),
                    )],
                ),
                s(
                    tag::PUBLIC_KEY_ATTRIBUTES,
                    vec![Item::new(
                        tag::CRYPTOGRAPHIC_USAGE_MASK,
                        Value::Integer(VERIFY),
                    )],
                ),
            ],
        );
        let (private_id, public_id) = pair_ids(&bi);
        // The stored halves, as Create Key Pair made them, are the reference.
        let stored_private =
            served_key(family, true, &get_block(&mut tls, V2_1, &private_id, None));
        let stored_public = served_key(family, false, &get_block(&mut tls, V2_1, &public_id, None));
        let private_canonical = canonical(&stored_private);
        let public_canonical = canonical(&stored_public);
        // The two halves belong together.
        assert_eq!(
            keypair::public_spki_of_private(&private_canonical).expect("public of private"),
            public_canonical,
            "{algorithm:?}"
        );
        check_all_formats(
            &mut tls,
            V2_1,
            &private_id,
            family,
            true,
            &private_canonical,
        );
        check_all_formats(&mut tls, V2_1, &public_id, family, false, &public_canonical);

        // What Get serves is usable by aws-lc-rs directly: sign with the served PKCS#8, verify
        // with the served SubjectPublicKeyInfo.
        let pkcs8 = bytes_of(block_material(&get_block(
            &mut tls,
            V2_1,
            &private_id,
            Some(Kft::Pkcs8),
        )))
        .to_vec();
        let spki = bytes_of(block_material(&get_block(
            &mut tls,
            V2_1,
            &public_id,
            Some(Kft::X509),
        )))
        .to_vec();
        let message = b"key formats";
        let (signature, verification): (Vec<u8>, &'static dyn signature::VerificationAlgorithm) =
            match family {
                KeyFamily::Rsa => {
                    let pair = signature::RsaKeyPair::from_pkcs8(&pkcs8).expect("RSA PKCS#8");
                    let mut sig = vec![0u8; pair.public_modulus_len()];
                    pair.sign(
                        &signature::RSA_PKCS1_SHA256,
                        &aws_lc_rs::rand::SystemRandom::new(),
                        message,
                        &mut sig,
                    )
                    .expect("sign");
                    (sig, &signature::RSA_PKCS1_2048_8192_SHA256)
                }
                KeyFamily::Ec => {
                    let (signing, verifying): (_, &'static dyn signature::VerificationAlgorithm) =
                        if length == 256 {
                            (
                                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                                &signature::ECDSA_P256_SHA256_ASN1,
                            )
                        } else {
                            (
                                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                                &signature::ECDSA_P384_SHA384_ASN1,
                            )
                        };
                    let pair =
                        signature::EcdsaKeyPair::from_pkcs8(signing, &pkcs8).expect("EC PKCS#8");
                    let sig = pair
                        .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
                        .expect("sign");
                    (sig.as_ref().to_vec(), verifying)
                }
                _ => {
                    let pair = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
                        .expect("Ed25519 PKCS#8");
                    assert_eq!(
                        key_format::write(
                            &key_format::read(KeyFamily::Ed25519, false, Encoding::Spki, &spki)
                                .expect("spki"),
                            Encoding::Raw
                        )
                        .expect("raw")
                        .to_vec(),
                        pair.public_key().as_ref()
                    );
                    (pair.sign(message).as_ref().to_vec(), &signature::ED25519)
                }
            };
        signature::ParsedPublicKey::new(verification, &spki)
            .expect("served SPKI parses")
            .verify_sig(message, &signature)
            .expect("signature by the served private key verifies with the served public key");
    }
    // 1.x names: Transparent ECDSA / ECDH keys.
    let bi = tls.call(
        V1_4,
        op(Operation::CreateKeyPair),
        vec![
            s(
                tag::COMMON_TEMPLATE_ATTRIBUTE,
                vec![
                    attribute(
                        "Cryptographic Algorithm",
                        Value::Enumeration(Alg::Ecdsa.value()),
                    ),
                    attribute("Cryptographic Length", Value::Integer(521)),
                ],
            ),
            s(
                tag::PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
                vec![attribute("Cryptographic Usage Mask", Value::Integer(SIGN))],
            ),
            s(
                tag::PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
                vec![attribute(
                    "Cryptographic Usage Mask",
                    Value::Integer(VERIFY),
                )],
            ),
        ],
    );
    let (private_id, public_id) = pair_ids(&bi);
    let private = canonical(&served_key(
        KeyFamily::Ec,
        true,
        &get_block(&mut tls, V1_4, &private_id, None),
    ));
    let public = canonical(&served_key(
        KeyFamily::Ec,
        false,
        &get_block(&mut tls, V1_4, &public_id, None),
    ));
    check_all_formats(&mut tls, V1_4, &private_id, KeyFamily::Ec, true, &private);
    check_all_formats(&mut tls, V1_4, &public_id, KeyFamily::Ec, false, &public);
}

/// A locally drawn key, as (family, private PKCS#8, public SPKI).
fn drawn(spec: KeyPairSpec) -> (KeyFamily, Vec<u8>, Vec<u8>) {
    let pair = keypair::generate(spec).expect("generate");
    match spec {
        KeyPairSpec::Rsa(_) => (KeyFamily::Rsa, pair.private.to_vec(), pair.public),
        KeyPairSpec::Ec(_) => (KeyFamily::Ec, pair.private.to_vec(), pair.public),
        KeyPairSpec::Ed25519 => (KeyFamily::Ed25519, pair.private.to_vec(), pair.public),
        KeyPairSpec::X25519 => {
            let private = key_format::read(KeyFamily::X25519, true, Encoding::Raw, &pair.private)
                .expect("x25519");
            let public = key_format::read(KeyFamily::X25519, false, Encoding::Raw, &pair.public)
                .expect("x25519");
            (KeyFamily::X25519, canonical(&private), canonical(&public))
        }
    }
}

/// `key` as the Key Material a client would register in `format`.
fn material_in(key: &AsymmetricKey, format: Kft) -> Item {
    let encoded = |e| material_bytes(&key_format::write(key, e).expect("encode"));
    match format {
        Kft::Pkcs1 => encoded(Encoding::Pkcs1),
        Kft::Pkcs8 => encoded(Encoding::Pkcs8),
        Kft::X509 => encoded(Encoding::Spki),
        Kft::EcPrivateKey => encoded(Encoding::Sec1),
        Kft::Raw => encoded(Encoding::Raw),
        Kft::TransparentRsaPrivateKey => {
            let AsymmetricKey::RsaPrivate(pkcs1) = key else {
                panic!()
            };
            let p = key_format::rsa_private_parts(pkcs1).expect("parts");
            s(
                tag::KEY_MATERIAL,
                vec![
                    big_item(tag::MODULUS, &p.modulus),
                    big_item(tag::PRIVATE_EXPONENT, &p.private_exponent),
                    big_item(tag::PUBLIC_EXPONENT, &p.public_exponent),
                    big_item(tag::P, &p.p),
                    big_item(tag::Q, &p.q),
                    big_item(tag::PRIME_EXPONENT_P, &p.prime_exponent_p),
                    big_item(tag::PRIME_EXPONENT_Q, &p.prime_exponent_q),
                    big_item(tag::CRT_COEFFICIENT, &p.crt_coefficient),
                ],
            )
        }
        Kft::TransparentRsaPublicKey => {
            let AsymmetricKey::RsaPublic(pkcs1) = key else {
                panic!()
            };
            let p = key_format::rsa_public_parts(pkcs1).expect("parts");
            s(
                tag::KEY_MATERIAL,
                vec![
                    big_item(tag::MODULUS, &p.modulus),
                    big_item(tag::PUBLIC_EXPONENT, &p.public_exponent),
                ],
            )
        }
        Kft::TransparentEcPrivateKey | Kft::TransparentEcdsaPrivateKey => {
            let AsymmetricKey::EcPrivate(curve, sec1) = key else {
                panic!()
            };
            let (_, d) = key_format::ec_private_scalar(sec1).expect("scalar");
            s(
                tag::KEY_MATERIAL,
                vec![
                    e(tag::RECOMMENDED_CURVE, curve_value(*curve)),
                    big_item(tag::D, &d),
                ],
            )
        }
        Kft::TransparentEcPublicKey | Kft::TransparentEcdhPublicKey => {
            let AsymmetricKey::EcPublic(curve, point) = key else {
                panic!()
            };
            s(
                tag::KEY_MATERIAL,
                vec![
                    e(tag::RECOMMENDED_CURVE, curve_value(*curve)),
                    bytes(tag::Q_STRING, point),
                ],
            )
        }
        other => panic!("no material for {other:?}"),
    }
}

fn curve_value(curve: Curve) -> u32 {
    match curve {
        Curve::P256 => 0x07,
        Curve::P384 => 0x0A,
        Curve::P521 => 0x0D,
    }
}

/// The format a registered key is stored (and served without Key Format Type) in.
fn stored_format(family: KeyFamily, private: bool, registered: Kft) -> Kft {
    let encoded = matches!(
        registered,
        Kft::Pkcs1 | Kft::Pkcs8 | Kft::X509 | Kft::EcPrivateKey
    );
    if encoded || family == KeyFamily::X25519 {
        return registered;
    }
    match (family, private) {
        (KeyFamily::Rsa, _) => Kft::Pkcs1,
        (KeyFamily::Ec, true) => Kft::EcPrivateKey,
        (KeyFamily::Ed25519, true) => Kft::Pkcs8,
        _ => Kft::X509,
    }
}

#[test]
fn keys_registered_in_every_format_are_stored_for_the_services_and_served_in_all() {
    let mut appliance = Appliance::new(&["app"]);
    let server = appliance.start();
    let mut tls = server.connect(appliance.creds("app"));
    for spec in [
        KeyPairSpec::Rsa(2048),
        KeyPairSpec::Ec(Curve::P256),
        KeyPairSpec::Ec(Curve::P521),
        KeyPairSpec::Ed25519,
        KeyPairSpec::X25519,
    ] {
        let (family, private_der, public_der) = drawn(spec);
        let private = key_format::read(family, true, Encoding::Pkcs8, &private_der).expect("read");
        let public = key_format::read(family, false, Encoding::Spki, &public_der).expect("read");
        for (is_private, key, expected) in [
            (true, &private, &private_der),
            (false, &public, &public_der),
        ] {
            let object_type = if is_private {
                ObjectType::PrivateKey
            } else {
                ObjectType::PublicKey
            };
            for version in [V2_1, V1_4] {
                let mut registrable = formats(family, is_private, version.0 >= 2);
                // 1.x only: the ECDSA / ECDH names; 2.x the EC ones.
                registrable.retain(|f| {
                    !matches!(
                        f,
                        Kft::TransparentEcdhPrivateKey | Kft::TransparentEcdsaPublicKey
                    )
                });
                for format in registrable {
                    let id = registered(&register(
                        &mut tls,
                        version,
                        object_type,
                        algorithm_of(family),
                        if is_private {
                            SIGN | DECRYPT
                        } else {
                            VERIFY | ENCRYPT
                        },
                        format,
                        material_in(key, format),
                    ));
                    let block = get_block(&mut tls, version, &id, None);
                    assert_eq!(
                        block_format(&block),
                        stored_format(family, is_private, format).value(),
                        "{spec:?} registered as {format:?}"
                    );
                    assert_eq!(
                        canonical(&served_key(family, is_private, &block)),
                        *expected,
                        "{spec:?} registered as {format:?}"
                    );
                    if version == V2_1
                        && matches!(
                            format,
                            Kft::TransparentRsaPrivateKey | Kft::TransparentEcPrivateKey | Kft::Raw
                        )
                    {
                        check_all_formats(&mut tls, version, &id, family, is_private, expected);
                    }
                }
            }
        }
    }

    // A key registered Transparent is usable by the cryptographic services: Encrypt with a
    // Transparent RSA public key, decrypt here.
    let (_, private_der, public_der) = drawn(KeyPairSpec::Rsa(2048));
    let public =
        key_format::read(KeyFamily::Rsa, false, Encoding::Spki, &public_der).expect("read");
    let id = register_active(
        &mut tls,
        V2_1,
        ObjectType::PublicKey,
        Alg::Rsa,
        ENCRYPT,
        Kft::TransparentRsaPublicKey,
        material_in(&public, Kft::TransparentRsaPublicKey),
    );
    let bi = tls.call(
        V2_1,
        op(Operation::Encrypt),
        vec![
            uid(&id),
            s(
                tag::CRYPTOGRAPHIC_PARAMETERS,
                vec![
                    e(tag::PADDING_METHOD, 0x02),
                    e(tag::HASHING_ALGORITHM, 0x06),
                    e(tag::CRYPTOGRAPHIC_ALGORITHM, Alg::Rsa.value()),
                ],
            ),
            bytes(tag::DATA, b"registered transparent"),
        ],
    );
    let ciphertext = bytes_of(success_payload(&bi).child(tag::DATA).expect("Data")).to_vec();
    let plain = asymmetric::decrypt(
        RsaPadding::Oaep(HashAlgorithm::Sha256),
        &private_der,
        &ciphertext,
        None,
    )
    .expect("decrypt");
    assert_eq!(&plain[..], b"registered transparent");

    // Symmetric keys and Secret Data: Raw <-> Transparent Symmetric Key both ways.
    let secret = [7u8; 24];
    for object_type in [ObjectType::SymmetricKey, ObjectType::SecretData] {
        for (registered_as, material) in [
            (Kft::Raw, material_bytes(&secret)),
            (
                Kft::TransparentSymmetricKey,
                s(tag::KEY_MATERIAL, vec![bytes(tag::KEY, &secret)]),
            ),
        ] {
            let mut payload = vec![
                e(tag::OBJECT_TYPE, object_type.value()),
                s(
                    tag::ATTRIBUTES,
                    vec![
                        e(tag::CRYPTOGRAPHIC_ALGORITHM, Alg::Aes.value()),
                        Item::new(tag::CRYPTOGRAPHIC_USAGE_MASK, Value::Integer(ENCRYPT)),
                    ],
                ),
            ];
            let block = s(
                tag::KEY_BLOCK,
                vec![
                    e(tag::KEY_FORMAT_TYPE, registered_as.value()),
                    s(tag::KEY_VALUE, vec![material]),
                ],
            );
            let mut wrapper = Vec::new();
            if object_type == ObjectType::SecretData {
                wrapper.push(e(tag::SECRET_DATA_TYPE, 0x02));
            }
            wrapper.push(block);
            payload.push(s(object_tag(object_type), wrapper));
            let id = registered(&tls.call(V2_1, op(Operation::Register), payload));
            let raw = get_block(&mut tls, V2_1, &id, Some(Kft::Raw));
            assert_eq!(bytes_of(block_material(&raw)), secret);
            let transparent = get_block(&mut tls, V2_1, &id, Some(Kft::TransparentSymmetricKey));
            assert_eq!(
                bytes_of(block_material(&transparent).child(tag::KEY).expect("Key")),
                secret
            );
            assert_eq!(
                get_failed(&mut tls, V2_1, &id, Kft::Pkcs8),
                Some(ResultReason::KeyFormatTypeNotSupported.value()),
                "{object_type:?} as PKCS#8"
            );
        }
    }
}

#[test]
fn malformed_keys_are_refused_with_invalid_field_and_a_log_line() {
    let mut appliance = Appliance::new(&["app"]);
    let mut server = appliance.start();
    let mut tls = server.connect(appliance.creds("app"));
    let (_, rsa_private, rsa_public) = drawn(KeyPairSpec::Rsa(2048));
    let (_, ec_private, ec_public) = drawn(KeyPairSpec::Ec(Curve::P256));
    let invalid = ResultReason::InvalidField.value();
    let cases: Vec<(ObjectType, Alg, Kft, Item, u32)> = vec![
        (
            ObjectType::PrivateKey,
            Alg::Rsa,
            Kft::Pkcs1,
            material_bytes(b"not DER at all"),
            invalid,
        ),
        (
            ObjectType::PrivateKey,
            Alg::Rsa,
            Kft::Pkcs8,
            material_bytes(&rsa_private[..100]),
            invalid,
        ),
        (
            ObjectType::PrivateKey,
            Alg::Rsa,
            Kft::Pkcs8,
            material_bytes(&ec_private),
            invalid,
        ),
        (
            ObjectType::PublicKey,
            Alg::Rsa,
            Kft::X509,
            material_bytes(&ec_public),
            invalid,
        ),
        (
            ObjectType::PublicKey,
            Alg::Ec,
            Kft::X509,
            material_bytes(&rsa_public),
            invalid,
        ),
        (
            ObjectType::PrivateKey,
            Alg::Ec,
            Kft::EcPrivateKey,
            material_bytes(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            invalid,
        ),
        (
            ObjectType::PublicKey,
            Alg::Ec,
            Kft::Raw,
            material_bytes(&[4u8; 65]),
            invalid,
        ),
        (
            ObjectType::PrivateKey,
            Alg::Ed25519,
            Kft::Raw,
            material_bytes(&[1u8; 31]),
            invalid,
        ),
        (
            ObjectType::PublicKey,
            Alg::Ec,
            Kft::TransparentEcPublicKey,
            s(
                tag::KEY_MATERIAL,
                vec![
                    e(tag::RECOMMENDED_CURVE, P_256),
                    bytes(tag::Q_STRING, &[4u8; 65]),
                ],
            ),
            invalid,
        ),
        (
            ObjectType::PrivateKey,
            Alg::Ec,
            Kft::TransparentEcPrivateKey,
            s(
                tag::KEY_MATERIAL,
                vec![
                    e(tag::RECOMMENDED_CURVE, P_256),
                    big_item(tag::D, &[0xff; 40]),
                ],
            ),
            invalid,
        ),
        (
            ObjectType::PublicKey,
            Alg::Rsa,
            Kft::TransparentRsaPublicKey,
            s(
                tag::KEY_MATERIAL,
                vec![
                    Item::new(tag::MODULUS, Value::BigInteger(vec![0xff; 8])),
                    big_item(tag::PUBLIC_EXPONENT, &[1, 0, 1]),
                ],
            ),
            invalid,
        ),
        // A private structure registered as a public key.
        (
            ObjectType::PublicKey,
            Alg::Ec,
            Kft::TransparentEcPrivateKey,
            s(
                tag::KEY_MATERIAL,
                vec![e(tag::RECOMMENDED_CURVE, P_256), big_item(tag::D, &[1; 32])],
            ),
            ResultReason::KeyFormatTypeNotSupported.value(),
        ),
    ];
    for (object_type, algorithm, format, material, reason) in cases {
        let bi = register(
            &mut tls,
            V2_1,
            object_type,
            algorithm,
            SIGN,
            format,
            material,
        );
        assert_failed(
            &bi,
            reason,
            &format!("{object_type:?} {algorithm:?} {format:?}"),
        );
    }
    assert!(server.is_running(), "the server survives malformed keys");
    // A key under a label its algorithm has no such encoding in (PyKMIP registers an RSA
    // PKCS#8 key as Raw) is kept as registered.
    // Registers an RSA private key under `label`; a Get serves it as registered.
    let kept_as_labelled = |tls: &mut Tls, label: Kft, der: &[u8]| -> String {
        let id = registered(&register(
            tls,
            V2_1,
            ObjectType::PrivateKey,
            Alg::Rsa,
            SIGN,
            label,
            material_bytes(der),
        ));
        let block = get_block(tls, V2_1, &id, None);
        assert_eq!(block_format(&block), label.value());
        assert_eq!(bytes_of(block_material(&block)), der);
        id
    };
    let id = kept_as_labelled(&mut tls, Kft::Raw, &rsa_private);
    // Still the same key for conversions.
    let pkcs8 = get_block(&mut tls, V2_1, &id, Some(Kft::Pkcs8));
    assert_eq!(bytes_of(block_material(&pkcs8)), &rsa_private[..]);
    // A PKCS#1 key labelled PKCS#8 (PyKMIP's suite does it) is kept as labelled, too.
    let pkcs1 = keypair::rsa_private_to_pkcs1(&rsa_private).expect("PKCS#1");
    kept_as_labelled(&mut tls, Kft::Pkcs8, &pkcs1);
    // Still serving on the same connection.
    let id = registered(&register(
        &mut tls,
        V2_1,
        ObjectType::PublicKey,
        Alg::Ec,
        VERIFY,
        Kft::X509,
        material_bytes(&ec_public),
    ));
    assert_eq!(
        get_failed(&mut tls, V2_1, &id, Kft::TransparentRsaPublicKey),
        Some(ResultReason::KeyFormatTypeNotSupported.value())
    );
    let log = server.log();
    assert!(
        log.contains("key format: registered key"),
        "no log line for a malformed key"
    );
    for secret in [&rsa_private[40..72], &ec_private[40..60]] {
        assert!(!log.contains(&hex::encode(secret)), "key bytes in the log");
    }
}

/// Get with a Key Wrapping Specification naming `wrapping_key`, with these parameters.
fn get_wrapped(
    tls: &mut Tls,
    version: (i32, i32),
    id: &str,
    wrapping_key: &str,
    params: Vec<Item>,
) -> Item {
    let mut info = vec![uid(wrapping_key)];
    if !params.is_empty() {
        info.push(s(tag::CRYPTOGRAPHIC_PARAMETERS, params));
    }
    tls.call(
        version,
        op(Operation::Get),
        vec![
            uid(id),
            s(
                tag::KEY_WRAPPING_SPECIFICATION,
                vec![
                    e(tag::WRAPPING_METHOD, 0x01),
                    s(tag::ENCRYPTION_KEY_INFORMATION, info),
                ],
            ),
        ],
    )
}

#[test]
fn get_wraps_keys_with_rsa_oaep_and_register_keeps_them_wrapped() {
    let mut appliance = Appliance::new(&["app", "other"]);
    let server = appliance.start();
    let mut tls = server.connect(appliance.creds("app"));
    let (_, private_der, public_der) = drawn(KeyPairSpec::Rsa(2048));
    let public =
        key_format::read(KeyFamily::Rsa, false, Encoding::Spki, &public_der).expect("read");
    let kek = registered(&register(
        &mut tls,
        V2_1,
        ObjectType::PublicKey,
        Alg::Rsa,
        WRAP_KEY | ENCRYPT,
        Kft::Pkcs1,
        material_in(&public, Kft::Pkcs1),
    ));
    let aes = {
        let bi = tls.call(
            V2_1,
            op(Operation::Create),
            vec![
                e(tag::OBJECT_TYPE, ObjectType::SymmetricKey.value()),
                s(
                    tag::ATTRIBUTES,
                    vec![
                        e(tag::CRYPTOGRAPHIC_ALGORITHM, Alg::Aes.value()),
                        Item::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(256)),
                        Item::new(
                            tag::CRYPTOGRAPHIC_USAGE_MASK,
                            Value::Integer(ENCRYPT | EXPORT),
                        ),
                    ],
                ),
            ],
        );
        registered(&bi)
    };
    let plain = bytes_of(block_material(&get_block(&mut tls, V2_1, &aes, None))).to_vec();
    assert_eq!(plain.len(), 32);

    // A Pre-Active wrapping key wraps nothing.
    let bi = get_wrapped(
        &mut tls,
        V2_1,
        &aes,
        &kek,
        vec![e(tag::PADDING_METHOD, 0x02)],
    );
    assert_failed(
        &bi,
        ResultReason::WrongKeyLifecycleState.value(),
        "Pre-Active KEK",
    );
    success_payload(&tls.call(V2_1, op(Operation::Activate), vec![uid(&kek)]));

    let sha1 = vec![
        e(tag::PADDING_METHOD, 0x02),
        e(tag::HASHING_ALGORITHM, 0x04),
    ];
    let sha256 = vec![
        e(tag::PADDING_METHOD, 0x02),
        e(tag::HASHING_ALGORITHM, 0x06),
        e(tag::MASK_GENERATOR, 0x01),
        e(tag::MASK_GENERATOR_HASHING_ALGORITHM, 0x06),
    ];
    let labelled = vec![
        e(tag::PADDING_METHOD, 0x02),
        e(tag::HASHING_ALGORITHM, 0x06),
        bytes(tag::P_SOURCE, b"label"),
    ];
    let mut wrapped_answer = None;
    for (params, hash, label) in [
        (Vec::new(), HashAlgorithm::Sha1, None),
        (sha1, HashAlgorithm::Sha1, None),
        (sha256, HashAlgorithm::Sha256, None),
        (labelled, HashAlgorithm::Sha256, Some(&b"label"[..])),
    ] {
        let echoed = params.clone();
        let bi = get_wrapped(&mut tls, V2_1, &aes, &kek, params);
        let answer = success_payload(&bi);
        let block = symmetric_key_block(&answer);
        let wrapped = bytes_of(block_material(block)).to_vec();
        assert_eq!(wrapped.len(), 256, "one RSA-2048 block");
        let unwrapped = asymmetric::decrypt(RsaPadding::Oaep(hash), &private_der, &wrapped, label)
            .expect("the client's private key unwraps");
        assert_eq!(&unwrapped[..], &plain[..]);
        let data = block
            .child(tag::KEY_WRAPPING_DATA)
            .expect("Key Wrapping Data");
        assert_eq!(
            enumeration(data.child(tag::WRAPPING_METHOD).expect("method")),
            0x01
        );
        let info = data
            .child(tag::ENCRYPTION_KEY_INFORMATION)
            .expect("key information");
        assert_eq!(
            text_of(info.child(tag::UNIQUE_IDENTIFIER).expect("uid")),
            kek
        );
        if !echoed.is_empty() {
            assert_eq!(
                info.child(tag::CRYPTOGRAPHIC_PARAMETERS),
                Some(&s(tag::CRYPTOGRAPHIC_PARAMETERS, echoed))
            );
        }
        wrapped_answer = Some(block.clone());
    }

    // An MGF1 hash other than the label hash (OAEP-SHA256 with MGF1-SHA1, as some HSM-backed
    // clients ask) wraps too; only AWS-LC's EVP interface unwraps it, aws-lc-rs' OAEP cannot.
    for label in [None, Some(&b"label"[..])] {
        let mut mixed = vec![
            e(tag::PADDING_METHOD, 0x02),
            e(tag::HASHING_ALGORITHM, 0x06),
            e(tag::MASK_GENERATOR, 0x01),
            e(tag::MASK_GENERATOR_HASHING_ALGORITHM, 0x04),
        ];
        if let Some(label) = label {
            mixed.push(bytes(tag::P_SOURCE, label));
        }
        let bi = get_wrapped(&mut tls, V2_1, &aes, &kek, mixed.clone());
        let answer = success_payload(&bi);
        let block = symmetric_key_block(&answer);
        let wrapped = bytes_of(block_material(block)).to_vec();
        assert_eq!(wrapped.len(), 256, "one RSA-2048 block");
        let unwrapped = aws_lc_ffi::rsa_oaep(
            false,
            &private_der,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha1,
            label,
            &wrapped,
        )
        .expect("OAEP-SHA256 with MGF1-SHA1 unwraps");
        assert_eq!(&unwrapped[..], &plain[..]);
        assert!(
            asymmetric::decrypt(
                RsaPadding::Oaep(HashAlgorithm::Sha256),
                &private_der,
                &wrapped,
                label
            )
            .is_err(),
            "wrapped with MGF1-SHA256 instead of the MGF1-SHA1 asked for"
        );
        let info = block
            .child(tag::KEY_WRAPPING_DATA)
            .and_then(|d| d.child(tag::ENCRYPTION_KEY_INFORMATION))
            .expect("key information");
        assert_eq!(
            info.child(tag::CRYPTOGRAPHIC_PARAMETERS),
            Some(&s(tag::CRYPTOGRAPHIC_PARAMETERS, mixed))
        );
    }

    // Refusals: a Mask Generator other than MGF1, PKCS#1 v1.5 transport, a private key or
    // another client's key as wrapping key, a wrapping key without Wrap Key.
    for (params, reason, what) in [
        (
            vec![
                e(tag::PADDING_METHOD, 0x02),
                e(tag::HASHING_ALGORITHM, 0x06),
                e(tag::MASK_GENERATOR, 0x02),
            ],
            ResultReason::UnsupportedCryptographicParameters,
            "a Mask Generator other than MGF1",
        ),
        (
            vec![e(tag::PADDING_METHOD, 0x08)],
            ResultReason::FeatureNotSupported,
            "PKCS#1 v1.5 wrapping",
        ),
    ] {
        let bi = get_wrapped(&mut tls, V2_1, &aes, &kek, params);
        assert_failed(&bi, reason.value(), what);
    }
    let private =
        key_format::read(KeyFamily::Rsa, true, Encoding::Pkcs8, &private_der).expect("read");
    let private_id = register_active(
        &mut tls,
        V2_1,
        ObjectType::PrivateKey,
        Alg::Rsa,
        WRAP_KEY,
        Kft::Pkcs8,
        material_in(&private, Kft::Pkcs8),
    );
    let bi = get_wrapped(&mut tls, V2_1, &aes, &private_id, Vec::new());
    assert_failed(
        &bi,
        ResultReason::FeatureNotSupported.value(),
        "private wrapping key",
    );
    let no_wrap = register_active(
        &mut tls,
        V2_1,
        ObjectType::PublicKey,
        Alg::Rsa,
        ENCRYPT,
        Kft::X509,
        material_bytes(&public_der),
    );
    let bi = get_wrapped(&mut tls, V2_1, &aes, &no_wrap, Vec::new());
    assert_failed(
        &bi,
        ResultReason::IncompatibleCryptographicUsageMask.value(),
        "no Wrap Key",
    );
    let bi = get_wrapped(&mut tls, V1_4, &aes, &no_wrap, Vec::new());
    assert_failed(
        &bi,
        ResultReason::PermissionDenied.value(),
        "no Wrap Key (1.x)",
    );
    let mut other = server.connect(appliance.creds("other"));
    let theirs = registered(&other.call(
        V2_1,
        op(Operation::Create),
        vec![
            e(tag::OBJECT_TYPE, ObjectType::SymmetricKey.value()),
            s(
                tag::ATTRIBUTES,
                vec![
                    e(tag::CRYPTOGRAPHIC_ALGORITHM, Alg::Aes.value()),
                    Item::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(128)),
                    Item::new(tag::CRYPTOGRAPHIC_USAGE_MASK, Value::Integer(ENCRYPT)),
                ],
            ),
        ],
    ));
    let bi = get_wrapped(&mut other, V2_1, &theirs, &kek, Vec::new());
    assert_failed(
        &bi,
        ResultReason::ObjectNotFound.value(),
        "another client's wrapping key",
    );

    // Register of the key wrapped that way: kept wrapped, served back exactly as given.
    let block = wrapped_answer.expect("a wrapped answer");
    let bi = tls.call(
        V2_1,
        op(Operation::Register),
        vec![
            e(tag::OBJECT_TYPE, ObjectType::SymmetricKey.value()),
            s(
                tag::ATTRIBUTES,
                vec![Item::new(
                    tag::CRYPTOGRAPHIC_USAGE_MASK,
                    Value::Integer(ENCRYPT),
                )],
            ),
            s(tag::SYMMETRIC_KEY, vec![block.clone()]),
        ],
    );
    let id = registered(&bi);
    let served = get_block(&mut tls, V2_1, &id, None);
    assert_eq!(block_material(&served), block_material(&block));
    assert_eq!(
        served.child(tag::KEY_WRAPPING_DATA),
        block.child(tag::KEY_WRAPPING_DATA)
    );
}
