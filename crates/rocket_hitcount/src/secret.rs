//! The integration's own secret: it signs page tokens and signed visitor
//! cookies, and salts the key of visitors who send no cookie. (Rocket does
//! not expose its `secret_key`, so the crate keeps its own.)

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Signature length in bytes (128 bits).
const SIGNATURE_LEN: usize = 16;

/// A secret key and the keyed hashes made with it.
#[derive(Clone)]
pub(crate) struct Secret(Arc<[u8]>);

impl Secret {
    pub(crate) fn new(key: &[u8]) -> Secret {
        Secret(key.into())
    }

    /// A random key, for debug runs without `secret_key`.
    pub(crate) fn random() -> Secret {
        Secret::new(random_bytes::<32>().as_slice())
    }

    /// HMAC-SHA-256 of `message` under this key, for one `purpose` (so a
    /// signature made for one use is never valid for another).
    pub(crate) fn mac(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message);
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
    hex::encode(random_bytes::<N>())
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
    fn random_values_differ() {
        assert_ne!(random_hex::<16>(), random_hex::<16>());
        // Across refills of the block too: no value comes out twice.
        let many: std::collections::HashSet<_> = (0..1000).map(|_| random_bytes::<20>()).collect();
        assert_eq!(many.len(), 1000);
        assert_eq!(random_hex::<16>().len(), 32);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
