use std::os::unix::fs::PermissionsExt;

use zeroize::Zeroizing;

use super::local::{FILE_PROVIDER, LocalRoot, PASSPHRASE_PROVIDER};
use super::{MasterKey, RootKeyProvider, SealError};

fn key_of(byte: u8) -> MasterKey {
    MasterKey::from_bytes(Zeroizing::new([byte; 32]))
}

#[test]
fn seal_round_trip_returns_the_plaintext() {
    let key = MasterKey::generate().unwrap();
    let plaintext = b"thirty-two bytes of key material";
    let sealed = key.seal(b"uid-1|v1", plaintext).unwrap();
    assert_eq!(sealed.len(), 1 + 12 + plaintext.len() + 16);
    assert_eq!(sealed[0], 1, "format version byte");
    assert!(!sealed.windows(plaintext.len()).any(|w| w == plaintext));
    let opened = key.unseal(b"uid-1|v1", &sealed).unwrap();
    assert_eq!(opened.as_slice(), plaintext);
}

#[test]
fn each_seal_uses_a_fresh_nonce() {
    let key = key_of(7);
    let a = key.seal(b"aad", b"same plaintext").unwrap();
    let b = key.seal(b"aad", b"same plaintext").unwrap();
    assert_ne!(a[1..13], b[1..13], "nonces repeat");
    assert_ne!(a, b);
}

#[test]
fn wrong_aad_fails_authentication() {
    let key = key_of(1);
    let sealed = key.seal(b"uid-1|v1", b"secret").unwrap();
    assert!(matches!(
        key.unseal(b"uid-1|v2", &sealed),
        Err(SealError::Authentication)
    ));
    assert!(matches!(
        key.unseal(b"uid-2|v1", &sealed),
        Err(SealError::Authentication)
    ));
}

#[test]
fn any_flipped_bit_fails_authentication() {
    let key = key_of(1);
    let sealed = key.seal(b"aad", b"secret material").unwrap();
    // Every bit after the version byte: nonce, ciphertext and tag.
    for byte in 1..sealed.len() {
        for bit in 0..8 {
            let mut tampered = sealed.clone();
            tampered[byte] ^= 1 << bit;
            assert!(
                matches!(
                    key.unseal(b"aad", &tampered),
                    Err(SealError::Authentication)
                ),
                "flip of byte {byte} bit {bit} was not detected"
            );
        }
    }
}

#[test]
fn wrong_key_fails_authentication() {
    let sealed = key_of(1).seal(b"aad", b"secret").unwrap();
    assert!(matches!(
        key_of(2).unseal(b"aad", &sealed),
        Err(SealError::Authentication)
    ));
}

#[test]
fn malformed_blobs_are_rejected_without_panicking() {
    let key = key_of(1);
    assert!(matches!(
        key.unseal(b"aad", &[]),
        Err(SealError::Malformed(_))
    ));
    assert!(matches!(
        key.unseal(b"aad", &[1; 28]),
        Err(SealError::Malformed(_))
    ));
    let mut sealed = key.seal(b"aad", b"x").unwrap();
    sealed[0] = 2;
    assert!(matches!(
        key.unseal(b"aad", &sealed),
        Err(SealError::Malformed(_))
    ));
}

#[test]
fn debug_prints_no_secret() {
    let key = key_of(0xAB);
    let shown = format!("{key:?} {key:#?}");
    assert!(!shown.to_lowercase().contains("ab, ab") && !shown.contains("171"));
    assert!(!shown.contains("abab"));
    assert!(shown.contains("redacted"));

    let dir = tempfile::tempdir().unwrap();
    let root = LocalRoot::open_or_create(&dir.path().join("root.key")).unwrap();
    let raw = std::fs::read(dir.path().join("root.key")).unwrap();
    let shown = format!("{root:?}");
    assert!(!shown.contains(&hex::encode(&raw)));
    assert!(!shown.contains(&format!("{:?}", &raw[..4]).trim_end_matches(']').to_string()));
}

#[test]
fn root_key_file_is_created_0600_in_a_0700_dir_and_reread() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let path = data_dir.join("root.key");
    let first = LocalRoot::open_or_create(&path).unwrap();
    assert_eq!(first.name(), FILE_PROVIDER);

    let file_mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(file_mode, 0o600);
    let dir_mode = std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    assert_eq!(std::fs::read(&path).unwrap().len(), 32);
    let leftovers: Vec<_> = std::fs::read_dir(&data_dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "temporary file left behind");

    // Reopening reads the same key: what one wraps, the other unwraps.
    let second = LocalRoot::open_or_create(&path).unwrap();
    let wrapped = first.wrap(&[9; 32]).unwrap();
    assert_eq!(second.unwrap(&wrapped).unwrap().as_slice(), &[9; 32]);
}

#[test]
fn two_fresh_root_key_files_differ() {
    let dir = tempfile::tempdir().unwrap();
    let a = LocalRoot::open_or_create(&dir.path().join("a.key")).unwrap();
    let b = LocalRoot::open_or_create(&dir.path().join("b.key")).unwrap();
    let wrapped = a.wrap(&[9; 32]).unwrap();
    assert!(matches!(b.unwrap(&wrapped), Err(SealError::Authentication)));
}

#[test]
fn group_or_world_readable_root_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.key");
    LocalRoot::open_or_create(&path).unwrap();
    for mode in [0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = LocalRoot::open_or_create(&path).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, SealError::Io { .. }), "{message}");
        assert!(message.contains(&format!("{mode:04o}")), "{message}");
        assert!(message.contains("root.key"), "{message}");
    }
}

#[test]
fn truncated_root_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.key");
    std::fs::write(&path, [1u8; 31]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = LocalRoot::open_or_create(&path).unwrap_err();
    assert!(err.to_string().contains("31 bytes"), "{err}");
}

#[test]
fn wrapped_master_key_is_bound_to_its_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let root = LocalRoot::open_or_create(&dir.path().join("root.key")).unwrap();
    let wrapped = root.wrap(&[5; 32]).unwrap();
    // The same root key as a MasterKey, unsealing with another AAD, must not open it.
    let raw = std::fs::read(dir.path().join("root.key")).unwrap();
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(&raw);
    let same_key = MasterKey::from_bytes(bytes);
    assert!(matches!(
        same_key.unseal(b"", &wrapped),
        Err(SealError::Authentication)
    ));
}

#[test]
fn passphrase_rederivation_gives_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let params = dir.path().join("sub").join("root.kdf.json");
    let first = LocalRoot::from_passphrase(b"correct horse battery staple", &params).unwrap();
    assert_eq!(first.name(), PASSPHRASE_PROVIDER);
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&params).unwrap()).unwrap();
    assert_eq!(stored["kdf"], "argon2id");
    assert_eq!(stored["salt_hex"].as_str().unwrap().len(), 32);

    let wrapped = first.wrap(&[3; 32]).unwrap();
    let again = LocalRoot::from_passphrase(b"correct horse battery staple", &params).unwrap();
    assert_eq!(again.unwrap(&wrapped).unwrap().as_slice(), &[3; 32]);

    let wrong = LocalRoot::from_passphrase(b"correct horse battery stapler", &params).unwrap();
    assert!(matches!(
        wrong.unwrap(&wrapped),
        Err(SealError::Authentication)
    ));
}

#[test]
fn passphrase_salt_differs_per_params_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = LocalRoot::from_passphrase(b"pass", &dir.path().join("a.json")).unwrap();
    let b = LocalRoot::from_passphrase(b"pass", &dir.path().join("b.json")).unwrap();
    let wrapped = a.wrap(&[3; 32]).unwrap();
    assert!(matches!(b.unwrap(&wrapped), Err(SealError::Authentication)));
}

#[test]
fn empty_passphrase_and_tampered_params_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let params = dir.path().join("kdf.json");
    assert!(LocalRoot::from_passphrase(b"", &params).is_err());
    std::fs::write(
        &params,
        br#"{"kdf":"argon2id","version":19,"memory_kib":4294967295,"iterations":3,"parallelism":4,"salt_hex":"00112233445566778899aabbccddeeff"}"#,
    )
    .unwrap();
    let err = LocalRoot::from_passphrase(b"pass", &params).unwrap_err();
    assert!(matches!(err, SealError::Malformed(_)), "{err}");
}
