//! The integration's own secret: it signs page tokens and signed visitor
//! cookies, encrypts private ones, and salts the key of visitors who send
//! no cookie. (Rocket does not expose its `secret_key`, so the crate keeps
//! its own.)

use std::sync::Mutex;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Signature length in bytes (128 bits).
const SIGNATURE_LEN: usize = 16;

/// A secret key and the keyed hashes made with it.
///
/// Keyed once: HMAC's key setup is two of the five SHA-256 blocks of a
/// short message, and requests make one hash or two each.
#[derive(Clone)]
pub(crate) struct Secret(Hmac<Sha256>);

impl Secret {
    pub(crate) fn new(key: &[u8]) -> Secret {
        Secret(<Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length"))
    }

    /// A random key, for debug runs without `secret_key`.
    pub(crate) fn random() -> Secret {
        Secret::new(random_bytes::<32>().as_slice())
    }

    /// HMAC-SHA-256 of `message` under this key, for one `purpose` (so a
    /// signature made for one use is never valid for another).
    pub(crate) fn mac(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        self.mac_parts(purpose, &[message])
    }

    /// [`Secret::mac`] of the concatenation of `parts`, without building it.
    pub(crate) fn mac_parts(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// A short URL-safe signature of `message`.
    pub(crate) fn sign(&self, purpose: &str, message: &str) -> String {
        URL_SAFE_NO_PAD.encode(&self.mac(purpose, message.as_bytes())[..SIGNATURE_LEN])
    }

    /// Whether `signature` is this key's signature of `message`, compared
    /// in constant time.
    pub(crate) fn verify(&self, purpose: &str, message: &str, signature: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let expected = self.mac(purpose, message.as_bytes());
        given.len() == SIGNATURE_LEN && bool::from(given.ct_eq(&expected[..SIGNATURE_LEN]))
    }
}

/// Nonce and tag lengths of AES-256-GCM, in bytes.
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// AES-256-GCM under a key derived from the secret for one purpose:
/// A secret made from the day's salt and kept until the salt changes: the
/// key of cookieless visitors' HMAC, which every request without the
/// cookie makes.
#[derive(Default)]
pub(crate) struct DailySecret(Mutex<Option<(Vec<u8>, Secret)>>);

impl DailySecret {
    pub(crate) fn for_salt(&self, salt: Vec<u8>) -> Secret {
        let mut current = self.0.lock().expect("not poisoned");
        match &*current {
            Some((known, secret)) if *known == salt => secret.clone(),
            _ => {
                let secret = Secret::new(&salt);
                *current = Some((salt, secret.clone()));
                secret
            }
        }
    }
}

/// private visitor cookies. Set up once (the key schedule), not per cookie.
#[derive(Clone)]
pub(crate) struct Cipher(Aes256Gcm);

impl Cipher {
    pub(crate) fn derive(secret: &Secret, purpose: &str) -> Cipher {
        let key = secret.mac(purpose, b"encryption key");
        Cipher(Aes256Gcm::new(&key.into()))
    }

    /// `plaintext` encrypted and authenticated together with `context`
    /// (a cookie's name, so a value cannot be moved to another cookie), as
    /// URL-safe base64 of nonce, ciphertext and tag: nothing in it needs
    /// escaping in a cookie.
    pub(crate) fn seal(&self, context: &[u8], plaintext: &[u8]) -> String {
        let nonce = random_bytes::<NONCE_LEN>();
        let mut data = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        data.extend_from_slice(&nonce);
        data.extend_from_slice(plaintext);
        let tag = self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), context, &mut data[NONCE_LEN..])
            .expect("a cookie is far below AES-GCM's length limit");
        data.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(data)
    }

    /// The plaintext of a [`Cipher::seal`]ed value, if it was sealed with
    /// this key and `context` and not changed since.
    pub(crate) fn open(&self, context: &[u8], sealed: &str) -> Option<Vec<u8>> {
        let mut data = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if data.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let tag = Tag::clone_from_slice(&data[data.len() - TAG_LEN..]);
        let nonce = *Nonce::from_slice(&data[..NONCE_LEN]);
        let end = data.len() - TAG_LEN;
        self.0
            .decrypt_in_place_detached(&nonce, context, &mut data[NONCE_LEN..end], &tag)
            .ok()?;
        data.truncate(end);
        data.drain(..NONCE_LEN);
        Some(data)
    }
}

/// Bytes of the operating system's randomness fetched at once: requests
/// take a key or two each, and one system call then serves dozens of
/// requests. Every byte is handed out once.
const RANDOM_BLOCK: usize = 1024;

thread_local! {
    static RANDOM: std::cell::RefCell<([u8; RANDOM_BLOCK], usize)> =
        const { std::cell::RefCell::new(([0; RANDOM_BLOCK], RANDOM_BLOCK)) };
}

/// `N` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    const { assert!(N <= RANDOM_BLOCK) };
    RANDOM.with_borrow_mut(|(block, used)| {
        if *used + N > RANDOM_BLOCK {
            getrandom::getrandom(block).expect("the operating system provides randomness");
            *used = 0;
        }
        let mut bytes = [0u8; N];
        bytes.copy_from_slice(&block[*used..*used + N]);
        *used += N;
        bytes
    })
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex<const N: usize>() -> String {
    to_hex(&random_bytes::<N>())
}

/// Lowercase hex of up to 32 bytes (keys and tokens), without the `hex`
/// crate's `encode`, which collects one `char` at a time.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut text = [0u8; 64];
    let text = &mut text[..bytes.len() * 2];
    hex::encode_to_slice(bytes, text).expect("twice the length");
    std::str::from_utf8(text).expect("hex is ASCII").to_owned()
}

/// Constant-time equality of two strings (CSRF tokens).
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_key_message_and_purpose() {
        let key = Secret::new(b"0123456789abcdef0123456789abcdef");
        let sig = key.sign("token", "7.1700000000");
        assert!(key.verify("token", "7.1700000000", &sig));
        assert!(!key.verify("token", "8.1700000000", &sig));
        assert!(!key.verify("cookie", "7.1700000000", &sig));
        assert!(!Secret::new(b"another key entirely.........").verify("token", "7.1700000000", &sig));
        assert!(!key.verify("token", "7.1700000000", "not base64!"));
        assert!(!key.verify("token", "7.1700000000", &sig[..sig.len() - 2]));
    }

    #[test]
    fn sealed_values_open_only_unchanged_under_their_key_and_context() {
        let cipher = Cipher::derive(&Secret::new(b"0123456789abcdef0123456789abcdef"), "cookie");
        let sealed = cipher.seal(b"visitor", b"abc~1:2~");
        assert!(sealed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(
            cipher.seal(b"visitor", b"abc~1:2~"),
            sealed,
            "a fresh nonce each time"
        );
        assert_eq!(
            cipher.open(b"visitor", &sealed).as_deref(),
            Some(&b"abc~1:2~"[..])
        );
        assert_eq!(cipher.open(b"other", &sealed), None, "bound to its context");
        let other_key = Cipher::derive(&Secret::new(b"another key entirely.........."), "cookie");
        assert_eq!(other_key.open(b"visitor", &sealed), None);
        let other_purpose = Cipher::derive(&Secret::new(b"0123456789abcdef0123456789abcdef"), "token");
        assert_eq!(other_purpose.open(b"visitor", &sealed), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        bytes[NONCE_LEN] ^= 1;
        assert_eq!(
            cipher.open(b"visitor", &URL_SAFE_NO_PAD.encode(&bytes)),
            None,
            "tampered"
        );
        for bad in ["", "not base64!", "AAAA", &sealed[..sealed.len() - 4]] {
            assert_eq!(cipher.open(b"visitor", bad), None, "{bad}");
        }
        assert_eq!(
            cipher.open(b"visitor", &cipher.seal(b"visitor", b"")).as_deref(),
            Some(&b""[..])
        );
    }

    #[test]
    fn hex_is_lowercase_and_twice_as_long() {
        assert_eq!(to_hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(to_hex(&[0xff; 32]), "f".repeat(64));
        assert_eq!(to_hex(&[]), "");
    }

    #[test]
    fn random_values_differ() {
        assert_ne!(random_hex::<16>(), random_hex::<16>());
        // Across refills of the block too: no value comes out twice.
        let many: std::collections::HashSet<_> = (0..1000).map(|_| random_bytes::<20>()).collect();
        assert_eq!(many.len(), 1000);
        assert_eq!(random_hex::<16>().len(), 32);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
