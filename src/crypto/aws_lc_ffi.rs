//! The few primitives aws-lc-rs's safe API does not expose, called in AWS-LC itself (the C
//! library aws-lc-rs is built on, through `aws-lc-sys`, the same build): raw ChaCha20, AES-GCM
//! and ChaCha20-Poly1305 with any nonce length, truncated tags and streaming (for KMIP
//! multi-part Encrypt/Decrypt), RSA-OAEP whose MGF1 hash differs from its label hash, RSA-PSS
//! with SHA-1, Blowfish-CBC (AWS-LC's "decrepit" part, for PyKMIP's encryption-based Derive
//! Key) and mixing caller seed bytes into the DRBG (RNG Seed).
//!
//! Why one file: every `unsafe` block of the crate's cryptography is here, next to the
//! ownership rules it relies on, so it can be reviewed in one sitting. No cipher is computed
//! here: each function only moves bytes in and out of AWS-LC calls. Every C object is owned
//! by a small guard that frees it on every path (`EVP_CIPHER_CTX_free` and `EVP_PKEY_free`
//! cleanse key schedules before freeing), and every length crossing the boundary is checked
//! to fit the C type first.

use std::os::raw::{c_int, c_long, c_void};
use std::ptr::{self, NonNull};

use aws_lc_sys as sys;
use zeroize::Zeroizing;

use super::CryptoError;
use super::digest::HashAlgorithm;

/// AWS-LC leaves a failure's reason on a per-thread queue; aws-lc-rs does not read it, but a
/// stale entry must not mislead a later caller, so each failure clears it.
fn failed(what: &'static str) -> CryptoError {
    // SAFETY: ERR_clear_error takes no arguments and only touches this thread's error queue.
    unsafe { sys::ERR_clear_error() };
    CryptoError::Library(what)
}

fn c_len(len: usize) -> Result<c_int, CryptoError> {
    c_int::try_from(len).map_err(|_| CryptoError::InvalidInput("input too long".into()))
}

/// The EVP digest for a hash, where AWS-LC's RSA padding code takes one.
fn evp_md(hash: HashAlgorithm) -> Result<*const sys::EVP_MD, CryptoError> {
    // SAFETY: the EVP_sha* functions take no arguments and return pointers to static,
    // immutable method tables that live for the whole program.
    let md = unsafe {
        match hash {
            HashAlgorithm::Sha1 => sys::EVP_sha1(),
            HashAlgorithm::Sha224 => sys::EVP_sha224(),
            HashAlgorithm::Sha256 => sys::EVP_sha256(),
            HashAlgorithm::Sha384 => sys::EVP_sha384(),
            HashAlgorithm::Sha512 => sys::EVP_sha512(),
            HashAlgorithm::Sha512_256 => sys::EVP_sha512_256(),
            other => {
                return Err(CryptoError::Unsupported(format!(
                    "{other:?} in RSA padding"
                )));
            }
        }
    };
    if md.is_null() {
        return Err(failed("EVP_MD"));
    }
    Ok(md)
}

// ---------------------------------------------------------------------------------------------
// Raw ChaCha20
// ---------------------------------------------------------------------------------------------

/// ChaCha20 keystream XOR (encryption and decryption are the same). `nonce` is 12 bytes (RFC
/// 8439, block counter from 0), 8 bytes (the original 64-bit nonce with a 64-bit counter from
/// 0) or 16 bytes (a 32-bit little-endian initial counter followed by the 12-byte nonce, as
/// OpenSSL's EVP_chacha20 reads it).
pub fn chacha20(key: &[u8], nonce: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if key.len() != 32 {
        return Err(CryptoError::KeyLength {
            len: key.len(),
            algorithm: "ChaCha20",
        });
    }
    let mut nonce12 = [0u8; 12];
    let counter = match nonce.len() {
        12 => {
            nonce12.copy_from_slice(nonce);
            0u32
        }
        // The original layout puts the counter's high word where RFC 8439 puts the first
        // nonce word; while the counter stays below 2^32 blocks that word is zero.
        8 => {
            nonce12[4..].copy_from_slice(nonce);
            0
        }
        16 => {
            nonce12.copy_from_slice(&nonce[4..]);
            u32::from_le_bytes([nonce[0], nonce[1], nonce[2], nonce[3]])
        }
        other => {
            return Err(CryptoError::InvalidInput(format!(
                "a ChaCha20 nonce is 8, 12 or 16 bytes, not {other}"
            )));
        }
    };
    let blocks = data.len().div_ceil(64) as u64;
    if u64::from(counter) + blocks > 1 << 32 {
        return Err(CryptoError::InvalidInput(
            "the ChaCha20 block counter would wrap".into(),
        ));
    }
    let mut out = Zeroizing::new(vec![0u8; data.len()]);
    if !data.is_empty() {
        // SAFETY: `out` and `data` are valid for `data.len()` bytes (out was just allocated
        // with that length and does not alias data); `key` is 32 bytes and `nonce12` 12, the
        // sizes CRYPTO_chacha_20 reads. It writes exactly `data.len()` bytes to `out`.
        unsafe {
            sys::CRYPTO_chacha_20(
                out.as_mut_ptr(),
                data.as_ptr(),
                data.len(),
                key.as_ptr(),
                nonce12.as_ptr(),
                counter,
            );
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// AEAD through EVP_CIPHER_CTX: any nonce length (GCM), truncated tags, streaming
// ---------------------------------------------------------------------------------------------

/// An AEAD for [`AeadStream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AeadCipher {
    AesGcm,
    ChaCha20Poly1305,
}

/// Owns one `EVP_CIPHER_CTX`; freed (and cleansed) on drop.
struct CipherCtx(NonNull<sys::EVP_CIPHER_CTX>);

impl CipherCtx {
    fn new() -> Result<CipherCtx, CryptoError> {
        // SAFETY: EVP_CIPHER_CTX_new allocates and initialises a context or returns NULL.
        let raw = unsafe { sys::EVP_CIPHER_CTX_new() };
        NonNull::new(raw)
            .map(CipherCtx)
            .ok_or_else(|| failed("EVP_CIPHER_CTX_new"))
    }

    fn ptr(&self) -> *mut sys::EVP_CIPHER_CTX {
        self.0.as_ptr()
    }
}

impl Drop for CipherCtx {
    fn drop(&mut self) {
        // SAFETY: the pointer came from EVP_CIPHER_CTX_new, is owned only by this guard and is
        // freed exactly once here; EVP_CIPHER_CTX_free cleanses the key schedule first.
        unsafe { sys::EVP_CIPHER_CTX_free(self.0.as_ptr()) };
    }
}

// SAFETY: an EVP_CIPHER_CTX has no thread affinity (no thread-local state, no locks); this
// guard owns it exclusively, so moving it to another thread is sound. It is not `Sync`.
unsafe impl Send for CipherCtx {}

/// An AEAD encryption or decryption in progress. Output is produced as input arrives; the tag
/// is produced (encryption) or checked (decryption) by `finish_*`.
pub struct AeadStream {
    ctx: CipherCtx,
    encrypting: bool,
}

impl std::fmt::Debug for AeadStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AeadStream")
            .field("encrypting", &self.encrypting)
            .finish_non_exhaustive()
    }
}

/// Tag lengths offered: 4 and 8 bytes (NIST SP 800-38D's short tags) and 12 to 16.
pub fn tag_length_allowed(len: usize) -> bool {
    matches!(len, 4 | 8 | 12..=16)
}

/// The static method table of `cipher` for a key of `key_len` bytes; a length the cipher does
/// not take is refused.
fn aead_cipher(cipher: AeadCipher, key_len: usize) -> Result<*const sys::EVP_CIPHER, CryptoError> {
    // SAFETY: the EVP_* cipher functions return pointers to static method tables.
    let evp = unsafe {
        match (cipher, key_len) {
            (AeadCipher::AesGcm, 16) => sys::EVP_aes_128_gcm(),
            (AeadCipher::AesGcm, 24) => sys::EVP_aes_192_gcm(),
            (AeadCipher::AesGcm, 32) => sys::EVP_aes_256_gcm(),
            (AeadCipher::ChaCha20Poly1305, 32) => sys::EVP_chacha20_poly1305(),
            (AeadCipher::AesGcm, len) => {
                return Err(CryptoError::KeyLength {
                    len,
                    algorithm: "AES-GCM",
                });
            }
            (AeadCipher::ChaCha20Poly1305, len) => {
                return Err(CryptoError::KeyLength {
                    len,
                    algorithm: "ChaCha20-Poly1305",
                });
            }
        }
    };
    if evp.is_null() {
        return Err(failed("EVP_CIPHER"));
    }
    Ok(evp)
}

/// GCM takes a nonce of 1 to 128 bytes, ChaCha20-Poly1305 exactly 12.
fn check_aead_nonce(cipher: AeadCipher, nonce: &[u8]) -> Result<(), CryptoError> {
    if nonce.is_empty()
        || nonce.len() > 128
        || (cipher == AeadCipher::ChaCha20Poly1305 && nonce.len() != 12)
    {
        return Err(CryptoError::InvalidInput(format!(
            "a nonce of {} bytes for {cipher:?}",
            nonce.len()
        )));
    }
    Ok(())
}

impl AeadStream {
    /// Starts an operation with `key` and `nonce` (GCM: any length from 1 byte; ChaCha20-
    /// Poly1305: 12 bytes) and the additional authenticated data.
    pub fn new(
        cipher: AeadCipher,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        encrypting: bool,
    ) -> Result<AeadStream, CryptoError> {
        let evp = aead_cipher(cipher, key.len())?;
        check_aead_nonce(cipher, nonce)?;
        let ctx = CipherCtx::new()?;
        let enc = c_int::from(encrypting);
        // SAFETY: ctx is a live context owned by `ctx`; evp is a static cipher table. Key and
        // IV are NULL in this first call (cipher selection only), as EVP_CipherInit_ex allows.
        if unsafe {
            sys::EVP_CipherInit_ex(
                ctx.ptr(),
                evp,
                ptr::null_mut(),
                ptr::null(),
                ptr::null(),
                enc,
            )
        } != 1
        {
            return Err(failed("EVP_CipherInit_ex"));
        }
        // SAFETY: SET_IVLEN reads only `arg` (the length, at most 128 per check_aead_nonce);
        // ptr is unused and NULL.
        if unsafe {
            sys::EVP_CIPHER_CTX_ctrl(
                ctx.ptr(),
                sys::EVP_CTRL_AEAD_SET_IVLEN,
                c_len(nonce.len())?,
                ptr::null_mut(),
            )
        } != 1
        {
            return Err(failed("EVP_CTRL_AEAD_SET_IVLEN"));
        }
        // SAFETY: key is exactly the cipher's key length (aead_cipher chose evp by it) and nonce
        // exactly the IV length just set; EVP_CipherInit_ex copies both and keeps no pointer
        // to them.
        if unsafe {
            sys::EVP_CipherInit_ex(
                ctx.ptr(),
                ptr::null(),
                ptr::null_mut(),
                key.as_ptr(),
                nonce.as_ptr(),
                -1,
            )
        } != 1
        {
            return Err(failed("EVP_CipherInit_ex"));
        }
        let stream = AeadStream { ctx, encrypting };
        stream.feed_aad(aad)?;
        Ok(stream)
    }

    /// Feeds the additional authenticated data, before any text.
    fn feed_aad(&self, aad: &[u8]) -> Result<(), CryptoError> {
        if aad.is_empty() {
            return Ok(());
        }
        let mut written: c_int = 0;
        // SAFETY: a NULL output with AEAD ciphers feeds `aad` as additional data; aad is
        // valid for its length, which fits c_int (checked by c_len).
        if unsafe {
            sys::EVP_CipherUpdate(
                self.ctx.ptr(),
                ptr::null_mut(),
                &mut written,
                aad.as_ptr(),
                c_len(aad.len())?,
            )
        } != 1
        {
            return Err(failed("EVP_CipherUpdate (AAD)"));
        }
        Ok(())
    }

    /// An independent copy of the stream at its current point (the multi-part table keeps the
    /// state before a part until the part's successor arrives, so a retried part can rerun).
    pub fn try_clone(&self) -> Result<AeadStream, CryptoError> {
        let ctx = CipherCtx::new()?;
        // SAFETY: both contexts are live and distinct; EVP_CIPHER_CTX_copy deep-copies the
        // cipher state (GCM and ChaCha20-Poly1305 both implement EVP_CTRL_COPY).
        if unsafe { sys::EVP_CIPHER_CTX_copy(ctx.ptr(), self.ctx.ptr()) } != 1 {
            return Err(failed("EVP_CIPHER_CTX_copy"));
        }
        Ok(AeadStream {
            ctx,
            encrypting: self.encrypting,
        })
    }

    /// Processes one part of the data; returns its output.
    pub fn update(&mut self, data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        // Room for a block more than the input, as EVP_CipherUpdate may need for block modes;
        // these AEADs are stream modes and write exactly data.len().
        let mut out = Zeroizing::new(vec![0u8; data.len() + 16]);
        if data.is_empty() {
            out.clear();
            return Ok(out);
        }
        let mut written: c_int = 0;
        // SAFETY: `out` is valid for data.len() + 16 bytes and does not alias `data`; the
        // input length fits c_int; `written` receives at most that many bytes.
        if unsafe {
            sys::EVP_CipherUpdate(
                self.ctx.ptr(),
                out.as_mut_ptr(),
                &mut written,
                data.as_ptr(),
                c_len(data.len())?,
            )
        } != 1
        {
            return Err(failed("EVP_CipherUpdate"));
        }
        out.truncate(usize::try_from(written).unwrap_or(0));
        Ok(out)
    }

    /// Ends an encryption; returns the remaining output (none for these AEADs) and a tag of
    /// `tag_len` bytes.
    pub fn finish_seal(self, tag_len: usize) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        if !self.encrypting {
            return Err(CryptoError::InvalidInput("not an encryption".into()));
        }
        if !tag_length_allowed(tag_len) {
            return Err(CryptoError::InvalidTagLength(tag_len));
        }
        let mut rest = vec![0u8; 16];
        let mut written: c_int = 0;
        // SAFETY: `rest` has room for a block, the most EVP_CipherFinal_ex writes.
        if unsafe { sys::EVP_CipherFinal_ex(self.ctx.ptr(), rest.as_mut_ptr(), &mut written) } != 1
        {
            return Err(failed("EVP_CipherFinal_ex"));
        }
        rest.truncate(usize::try_from(written).unwrap_or(0));
        let mut tag = vec![0u8; tag_len];
        // SAFETY: GET_TAG copies `arg` bytes (1..=16, checked above) into `tag`, which holds
        // exactly that many.
        if unsafe {
            sys::EVP_CIPHER_CTX_ctrl(
                self.ctx.ptr(),
                sys::EVP_CTRL_AEAD_GET_TAG,
                c_len(tag_len)?,
                tag.as_mut_ptr().cast::<c_void>(),
            )
        } != 1
        {
            return Err(failed("EVP_CTRL_AEAD_GET_TAG"));
        }
        Ok((rest, tag))
    }

    /// Ends a decryption by checking `tag` (its length is the tag length); a mismatch is
    /// [`CryptoError::IntegrityCheckFailed`].
    pub fn finish_open(self, tag: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if self.encrypting {
            return Err(CryptoError::InvalidInput("not a decryption".into()));
        }
        if !tag_length_allowed(tag.len()) {
            return Err(CryptoError::InvalidTagLength(tag.len()));
        }
        let mut expected = tag.to_vec();
        // SAFETY: SET_TAG copies `arg` bytes (at most 16, checked above) from `expected`,
        // which holds exactly that many; the context does not keep the pointer.
        if unsafe {
            sys::EVP_CIPHER_CTX_ctrl(
                self.ctx.ptr(),
                sys::EVP_CTRL_AEAD_SET_TAG,
                c_len(expected.len())?,
                expected.as_mut_ptr().cast::<c_void>(),
            )
        } != 1
        {
            return Err(failed("EVP_CTRL_AEAD_SET_TAG"));
        }
        let mut rest = Zeroizing::new(vec![0u8; 16]);
        let mut written: c_int = 0;
        // SAFETY: `rest` has room for a block, the most EVP_CipherFinal_ex writes.
        if unsafe { sys::EVP_CipherFinal_ex(self.ctx.ptr(), rest.as_mut_ptr(), &mut written) } != 1
        {
            // SAFETY: as in `failed`; the tag mismatch is the expected reason here.
            unsafe { sys::ERR_clear_error() };
            return Err(CryptoError::IntegrityCheckFailed);
        }
        rest.truncate(usize::try_from(written).unwrap_or(0));
        Ok(rest)
    }
}

// ---------------------------------------------------------------------------------------------
// Blowfish-CBC (AWS-LC decrepit)
// ---------------------------------------------------------------------------------------------

/// Blowfish in CBC mode, one shot, with or without PKCS#5 padding. The key is 4 to 56 bytes,
/// the IV 8. Offered only where a KMIP client asks for it (PyKMIP's encryption-based Derive
/// Key); a 64-bit block cipher is not offered for Encrypt.
pub fn blowfish_cbc_encrypt(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    pkcs5: bool,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if !(4..=56).contains(&key.len()) {
        return Err(CryptoError::KeyLength {
            len: key.len(),
            algorithm: "Blowfish",
        });
    }
    if iv.len() != 8 {
        return Err(CryptoError::InvalidInput(format!(
            "a Blowfish-CBC IV is 8 bytes, not {}",
            iv.len()
        )));
    }
    if !pkcs5 && !data.len().is_multiple_of(8) {
        return Err(CryptoError::InvalidInput(
            "without padding the data must be a multiple of 8 bytes".into(),
        ));
    }
    let ctx = CipherCtx::new()?;
    // SAFETY: EVP_bf_cbc returns a static method table.
    let evp = unsafe { sys::EVP_bf_cbc() };
    if evp.is_null() {
        return Err(failed("EVP_bf_cbc"));
    }
    // SAFETY: first call selects the cipher only (NULL key and IV), on a live context.
    if unsafe {
        sys::EVP_CipherInit_ex(ctx.ptr(), evp, ptr::null_mut(), ptr::null(), ptr::null(), 1)
    } != 1
    {
        return Err(failed("EVP_CipherInit_ex"));
    }
    // SAFETY: Blowfish is a variable-length cipher; the length (4..=56) fits c_uint.
    if unsafe { sys::EVP_CIPHER_CTX_set_key_length(ctx.ptr(), key.len() as u32) } != 1 {
        return Err(failed("EVP_CIPHER_CTX_set_key_length"));
    }
    // SAFETY: key holds exactly the key length just set and iv the 8-byte block size; both
    // are copied by the call.
    if unsafe {
        sys::EVP_CipherInit_ex(
            ctx.ptr(),
            ptr::null(),
            ptr::null_mut(),
            key.as_ptr(),
            iv.as_ptr(),
            1,
        )
    } != 1
    {
        return Err(failed("EVP_CipherInit_ex"));
    }
    // SAFETY: a live context; the flag is 0 or 1.
    if unsafe { sys::EVP_CIPHER_CTX_set_padding(ctx.ptr(), c_int::from(pkcs5)) } != 1 {
        return Err(failed("EVP_CIPHER_CTX_set_padding"));
    }
    let mut out = Zeroizing::new(vec![0u8; data.len() + 8]);
    let mut written: c_int = 0;
    if !data.is_empty() {
        // SAFETY: `out` has room for data.len() + one block, the most EVP_CipherUpdate writes
        // for a block cipher; the input length fits c_int.
        if unsafe {
            sys::EVP_CipherUpdate(
                ctx.ptr(),
                out.as_mut_ptr(),
                &mut written,
                data.as_ptr(),
                c_len(data.len())?,
            )
        } != 1
        {
            return Err(failed("EVP_CipherUpdate"));
        }
    }
    let done = usize::try_from(written).unwrap_or(0);
    let mut last: c_int = 0;
    // SAFETY: at most one block remains to be written and `out[done..]` has at least 8 bytes
    // left (out is data.len() + 8 long and update wrote at most data.len() rounded down).
    if unsafe { sys::EVP_CipherFinal_ex(ctx.ptr(), out[done..].as_mut_ptr(), &mut last) } != 1 {
        return Err(failed("EVP_CipherFinal_ex"));
    }
    out.truncate(done + usize::try_from(last).unwrap_or(0));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// RSA through EVP_PKEY: OAEP with any MGF1 hash, PSS with SHA-1
// ---------------------------------------------------------------------------------------------

struct Pkey(NonNull<sys::EVP_PKEY>);

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: owned exclusively, freed once; EVP_PKEY_free cleanses private key material.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) };
    }
}

struct PkeyCtx(NonNull<sys::EVP_PKEY_CTX>);

impl Drop for PkeyCtx {
    fn drop(&mut self) {
        // SAFETY: owned exclusively, freed once (it holds its own reference to the key).
        unsafe { sys::EVP_PKEY_CTX_free(self.0.as_ptr()) };
    }
}

/// Parses PKCS#8 (private) or SubjectPublicKeyInfo (public) DER.
fn parse_key(der: &[u8], private: bool) -> Result<Pkey, CryptoError> {
    let len = c_long::try_from(der.len()).map_err(|_| CryptoError::KeyRejected("RSA key"))?;
    let mut cursor = der.as_ptr();
    // SAFETY: `cursor` points at `der`, valid for `len` bytes; the d2i functions read at most
    // `len` bytes, advance the cursor (a local copy), and return a new key or NULL.
    let raw = unsafe {
        if private {
            sys::d2i_AutoPrivateKey(ptr::null_mut(), &mut cursor, len)
        } else {
            sys::d2i_PUBKEY(ptr::null_mut(), &mut cursor, len)
        }
    };
    match NonNull::new(raw) {
        Some(key) => Ok(Pkey(key)),
        None => {
            failed("d2i");
            Err(CryptoError::KeyRejected("RSA key"))
        }
    }
}

fn pkey_ctx(key: &Pkey) -> Result<PkeyCtx, CryptoError> {
    // SAFETY: key is a live EVP_PKEY; the new context takes its own reference.
    let raw = unsafe { sys::EVP_PKEY_CTX_new(key.0.as_ptr(), ptr::null_mut()) };
    NonNull::new(raw)
        .map(PkeyCtx)
        .ok_or_else(|| failed("EVP_PKEY_CTX_new"))
}

fn check(ok: c_int, what: &'static str) -> Result<(), CryptoError> {
    if ok == 1 { Ok(()) } else { Err(failed(what)) }
}

/// RSA-OAEP with a label hash and a separate MGF1 hash. Encrypts with a SubjectPublicKeyInfo,
/// decrypts with a PKCS#8 private key; a failed decryption is one answer,
/// [`CryptoError::IntegrityCheckFailed`] (no padding oracle).
pub fn rsa_oaep(
    encrypting: bool,
    key_der: &[u8],
    oaep_hash: HashAlgorithm,
    mgf1_hash: HashAlgorithm,
    label: Option<&[u8]>,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let key = parse_key(key_der, !encrypting)?;
    let ctx = pkey_ctx(&key)?;
    let c = ctx.0.as_ptr();
    // SAFETY (all calls on `c` below): c is a live EVP_PKEY_CTX owned by `ctx`; the md
    // pointers are static tables; the setters copy what they need.
    unsafe {
        check(
            if encrypting {
                sys::EVP_PKEY_encrypt_init(c)
            } else {
                sys::EVP_PKEY_decrypt_init(c)
            },
            "EVP_PKEY_*crypt_init",
        )?;
        check(
            sys::EVP_PKEY_CTX_set_rsa_padding(c, sys::RSA_PKCS1_OAEP_PADDING),
            "set_rsa_padding",
        )?;
        check(
            sys::EVP_PKEY_CTX_set_rsa_oaep_md(c, evp_md(oaep_hash)?),
            "set_rsa_oaep_md",
        )?;
        check(
            sys::EVP_PKEY_CTX_set_rsa_mgf1_md(c, evp_md(mgf1_hash)?),
            "set_rsa_mgf1_md",
        )?;
    }
    if let Some(label) = label.filter(|l| !l.is_empty()) {
        // SAFETY: set0 takes ownership of a buffer that must come from OPENSSL_malloc, so the
        // label is copied with OPENSSL_memdup; on success the context frees it, on failure
        // this code does.
        unsafe {
            let copy = sys::OPENSSL_memdup(label.as_ptr().cast::<c_void>(), label.len());
            if copy.is_null() {
                return Err(failed("OPENSSL_memdup"));
            }
            if sys::EVP_PKEY_CTX_set0_rsa_oaep_label(c, copy.cast::<u8>(), label.len()) != 1 {
                sys::OPENSSL_free(copy);
                return Err(failed("set0_rsa_oaep_label"));
            }
        }
    }
    let mut out_len: usize = 0;
    // SAFETY: a NULL output asks for the maximum output size, written to out_len.
    let sized = unsafe {
        if encrypting {
            sys::EVP_PKEY_encrypt(c, ptr::null_mut(), &mut out_len, data.as_ptr(), data.len())
        } else {
            sys::EVP_PKEY_decrypt(c, ptr::null_mut(), &mut out_len, data.as_ptr(), data.len())
        }
    };
    check(sized, "EVP_PKEY_*crypt (size)")?;
    let mut out = Zeroizing::new(vec![0u8; out_len]);
    // SAFETY: `out` holds out_len bytes, the size AWS-LC just asked for; data is valid for
    // its length; out_len is updated to the bytes written (at most its input value).
    let ok = unsafe {
        if encrypting {
            sys::EVP_PKEY_encrypt(c, out.as_mut_ptr(), &mut out_len, data.as_ptr(), data.len())
        } else {
            sys::EVP_PKEY_decrypt(c, out.as_mut_ptr(), &mut out_len, data.as_ptr(), data.len())
        }
    };
    if ok != 1 {
        failed("EVP_PKEY_*crypt");
        return Err(if encrypting {
            CryptoError::InvalidInput("the data is too long for this key and padding".into())
        } else {
            CryptoError::IntegrityCheckFailed
        });
    }
    out.truncate(out_len);
    Ok(out)
}

/// A context on `key` set up for RSA-PSS signing (or verifying, when not `signing`): `hash`
/// is both the signature digest and MGF1's, and `salt_len` a length in bytes or one of
/// AWS-LC's `RSA_PSS_SALTLEN_*` rules.
fn rsa_pss_ctx(
    key: &Pkey,
    signing: bool,
    hash: HashAlgorithm,
    salt_len: c_int,
) -> Result<PkeyCtx, CryptoError> {
    let ctx = pkey_ctx(key)?;
    let c = ctx.0.as_ptr();
    let md = evp_md(hash)?;
    // SAFETY: c is live; md static; the setters copy what they need.
    unsafe {
        if signing {
            check(sys::EVP_PKEY_sign_init(c), "EVP_PKEY_sign_init")?;
        } else {
            check(sys::EVP_PKEY_verify_init(c), "EVP_PKEY_verify_init")?;
        }
        check(
            sys::EVP_PKEY_CTX_set_rsa_padding(c, sys::RSA_PKCS1_PSS_PADDING),
            "set_rsa_padding",
        )?;
        check(
            sys::EVP_PKEY_CTX_set_signature_md(c, md),
            "set_signature_md",
        )?;
        check(sys::EVP_PKEY_CTX_set_rsa_mgf1_md(c, md), "set_rsa_mgf1_md")?;
        check(
            sys::EVP_PKEY_CTX_set_rsa_pss_saltlen(c, salt_len),
            "set_rsa_pss_saltlen",
        )?;
    }
    Ok(ctx)
}

/// RSA-PSS over a precomputed digest (salt length = digest length) with a PKCS#8 private key.
pub fn rsa_pss_sign(
    private_pkcs8: &[u8],
    hash: HashAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = parse_key(private_pkcs8, true)?;
    let ctx = rsa_pss_ctx(&key, true, hash, sys::RSA_PSS_SALTLEN_DIGEST)?;
    let c = ctx.0.as_ptr();
    let mut len: usize = 0;
    // SAFETY: a NULL output asks for the signature size; digest is valid for its length.
    check(
        unsafe { sys::EVP_PKEY_sign(c, ptr::null_mut(), &mut len, digest.as_ptr(), digest.len()) },
        "EVP_PKEY_sign (size)",
    )?;
    let mut out = vec![0u8; len];
    // SAFETY: `out` holds `len` bytes, the size just reported; len is updated to the bytes
    // written.
    check(
        unsafe { sys::EVP_PKEY_sign(c, out.as_mut_ptr(), &mut len, digest.as_ptr(), digest.len()) },
        "EVP_PKEY_sign",
    )?;
    out.truncate(len);
    Ok(out)
}

/// Checks an RSA-PSS signature over a precomputed digest with a SubjectPublicKeyInfo; any
/// salt length is accepted. A bad signature is [`CryptoError::IntegrityCheckFailed`].
pub fn rsa_pss_verify(
    public_spki: &[u8],
    hash: HashAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let key = parse_key(public_spki, false)?;
    let ctx = rsa_pss_ctx(&key, false, hash, sys::RSA_PSS_SALTLEN_AUTO)?;
    let c = ctx.0.as_ptr();
    // SAFETY: signature and digest are valid for their lengths; nothing is written.
    let ok = unsafe {
        sys::EVP_PKEY_verify(
            c,
            signature.as_ptr(),
            signature.len(),
            digest.as_ptr(),
            digest.len(),
        )
    };
    if ok == 1 {
        Ok(())
    } else {
        failed("EVP_PKEY_verify");
        Err(CryptoError::IntegrityCheckFailed)
    }
}

// ---------------------------------------------------------------------------------------------
// RNG Seed
// ---------------------------------------------------------------------------------------------

/// Bytes of caller data one DRBG reseed takes.
const SEED_CHUNK: usize = 32;

/// Mixes `seed` into the calling thread's DRBG (AWS-LC keeps one per thread; the engine thread
/// serves RNG Retrieve): each 32-byte chunk (the last zero-padded) is passed as prediction-
/// resistance input to a reseed with fresh OS entropy, so caller data can add to, never replace,
/// the system's entropy. Returns the number of bytes used (all of them).
pub fn mix_into_drbg(seed: &[u8]) -> Result<usize, CryptoError> {
    for chunk in seed.chunks(SEED_CHUNK) {
        let mut input = Zeroizing::new([0u8; SEED_CHUNK]);
        input[..chunk.len()].copy_from_slice(chunk);
        let mut discard = Zeroizing::new([0u8; 1]);
        // SAFETY: `discard` is valid for the 1 byte requested (the call does nothing for 0
        // bytes, so one byte is drawn); `input` is exactly RAND_PRED_RESISTANCE_LEN (32) bytes.
        let ok = unsafe {
            sys::RAND_bytes_with_user_prediction_resistance(
                discard.as_mut_ptr(),
                discard.len(),
                input.as_ptr(),
            )
        };
        if ok != 1 {
            return Err(CryptoError::Random);
        }
    }
    Ok(seed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // The ChaCha20 keystream for an all-zero key and nonce (RFC 8439 A.1 test vector 1, and
    // the KMIP CS-BC-M-CHACHA20-1 vector with its 8-byte nonce).
    #[test]
    fn chacha20_known_answer_with_every_nonce_layout() {
        let expected = hex(concat!(
            "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7",
            "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
        ));
        let zeros = [0u8; 64];
        for nonce in [&[0u8; 8][..], &[0u8; 12][..], &[0u8; 16][..]] {
            assert_eq!(*chacha20(&[0; 32], nonce, &zeros).unwrap(), expected);
        }
        assert!(chacha20(&[0; 16], &[0; 12], b"x").is_err());
        assert!(chacha20(&[0; 32], &[0; 7], b"x").is_err());
        let near_wrap = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(chacha20(&[0; 32], &near_wrap, &[0; 65]).is_err());
    }

    // The GCM specification's test case 5 (AES-128, 64-bit IV) in two parts, and a truncated
    // tag on decryption.
    #[test]
    fn gcm_with_a_short_iv_in_parts_and_truncated_tags() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let iv = hex("cafebabefacedbad");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let plain = hex(concat!(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
        ));
        let mut s = AeadStream::new(AeadCipher::AesGcm, &key, &iv, &aad, true).unwrap();
        let mut ct = s.update(&plain[..32]).unwrap().to_vec();
        let copy = s.try_clone().unwrap();
        ct.extend_from_slice(&s.update(&plain[32..]).unwrap());
        let (rest, tag) = s.finish_seal(16).unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            ct,
            hex(concat!(
                "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423",
                "73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598"
            ))
        );
        assert_eq!(tag, hex("3612d2e79e3b0785561be14aaca2fccb"));
        // The copy continues independently to the same result.
        let mut copy = copy;
        assert_eq!(*copy.update(&plain[32..]).unwrap(), ct[32..]);
        let mut d = AeadStream::new(AeadCipher::AesGcm, &key, &iv, &aad, false).unwrap();
        let back = d.update(&ct).unwrap();
        assert_eq!(*back, plain);
        assert!(d.finish_open(&tag[..12]).unwrap().is_empty());
        let mut d = AeadStream::new(AeadCipher::AesGcm, &key, &iv, &aad, false).unwrap();
        d.update(&ct).unwrap();
        let mut bad = tag.clone();
        bad[0] ^= 1;
        assert_eq!(d.finish_open(&bad), Err(CryptoError::IntegrityCheckFailed));
        let s = AeadStream::new(AeadCipher::AesGcm, &key, &iv, &aad, true).unwrap();
        assert_eq!(s.finish_seal(1), Err(CryptoError::InvalidTagLength(1)));
    }

    #[test]
    fn blowfish_cbc_pkcs5_matches_pykmip_s_expected_derivation() {
        let out = blowfish_cbc_encrypt(
            &hex("0123456789abcdeff0e1d2c3b4a59687"),
            &hex("fedcba9876543210"),
            &hex("37363534333231204e6f77206973207468652074696d6520666f722000"),
            true,
        )
        .unwrap();
        assert_eq!(
            *out,
            hex("6b77b4d63006dee605b156e27403979358deb9e7154616d9749decbec05d264b")
        );
    }

    #[test]
    fn seeding_uses_every_byte() {
        assert_eq!(mix_into_drbg(&[7u8; 70]).unwrap(), 70);
        assert_eq!(mix_into_drbg(&[]).unwrap(), 0);
    }
}
