//! Page tokens: the signed `(pk, expiry)` a page hands its script, so the
//! AJAX endpoint counts only objects that a page of the site showed.

use std::fmt;

use crate::secret::Secret;

const PURPOSE: &str = "hitcount page token";

/// Why a page token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenError {
    Malformed,
    Forged,
    Expired,
    OtherObject,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "hitcountToken is malformed",
            TokenError::Forged => "hitcountToken has a wrong signature",
            TokenError::Expired => "hitcountToken has expired; reload the page",
            TokenError::OtherObject => "hitcountToken was issued for another hitcountPK",
        })
    }
}

/// A token for object `pk` that expires at `expires` (Unix seconds):
/// `<pk>.<expires>.<signature>`.
pub(crate) fn issue(secret: &Secret, pk: i64, expires: i64) -> String {
    let message = format!("{pk}.{expires}");
    let signature = secret.sign(PURPOSE, &message);
    format!("{message}.{signature}")
}

/// Checks a token for object `pk` at time `now` (Unix seconds).
pub(crate) fn check(secret: &Secret, token: &str, pk: i64, now: i64) -> Result<(), TokenError> {
    let mut parts = token.splitn(3, '.');
    let (Some(token_pk), Some(expires), Some(signature)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    // The signature covers the numbers as written, so that `+7` or `07`
    // for `7` is no second valid token.
    let signed = &token[..token_pk.len() + 1 + expires.len()];
    let (Ok(token_pk), Ok(expires)) = (token_pk.parse::<i64>(), expires.parse::<i64>()) else {
        return Err(TokenError::Malformed);
    };
    if !secret.verify(PURPOSE, signed, signature) {
        return Err(TokenError::Forged);
    }
    if token_pk != pk {
        return Err(TokenError::OtherObject);
    }
    if expires < now {
        return Err(TokenError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_check_signature_object_and_expiry() {
        let secret = Secret::new(b"0123456789abcdef0123456789abcdef");
        let token = issue(&secret, 7, 1_000);
        assert_eq!(check(&secret, &token, 7, 999), Ok(()));
        assert_eq!(check(&secret, &token, 7, 1_000), Ok(()));
        assert_eq!(check(&secret, &token, 7, 1_001), Err(TokenError::Expired));
        assert_eq!(check(&secret, &token, 8, 999), Err(TokenError::OtherObject));
        let forged = token.replacen("7.", "8.", 1);
        assert_eq!(check(&secret, &forged, 8, 999), Err(TokenError::Forged));
        let longer = token.replacen(".1000.", ".9999.", 1);
        assert_eq!(check(&secret, &longer, 7, 999), Err(TokenError::Forged));
        for rewritten in ["+7.1000.", "07.1000.", "7.+1000.", "7.01000."] {
            let same_numbers = token.replacen("7.1000.", rewritten, 1);
            assert_eq!(
                check(&secret, &same_numbers, 7, 999),
                Err(TokenError::Forged),
                "{rewritten}"
            );
        }
        let other_key = Secret::new(b"another secret key, 32 bytes long");
        assert_eq!(check(&other_key, &token, 7, 999), Err(TokenError::Forged));
        for bad in ["", "7", "7.1000", "x.1000.sig", "7.y.sig"] {
            assert_eq!(check(&secret, bad, 7, 999), Err(TokenError::Malformed), "{bad}");
        }
    }
}

#[cfg(test)]
mod proptests;
