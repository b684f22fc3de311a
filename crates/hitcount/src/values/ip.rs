//! What the hit log keeps of a visitor's IP address.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What the hit log stores in place of the visitor's IP address.
///
/// The default is [`IpStorage::Hashed`]: no raw address is ever written, yet
/// every IP rule of django-hitcount keeps its exact meaning, because equal
/// addresses give equal hashes: the per-IP limit, blacklisting the IP of a
/// selected hit, searching the hit log for an address.
///
/// ```
/// use hitcount::IpStorage;
///
/// let ip = "192.0.2.77".parse().unwrap();
/// assert_eq!(IpStorage::Full.store(ip, b"key").as_deref(), Some("192.0.2.77"));
/// assert_eq!(IpStorage::Masked.store(ip, b"key").as_deref(), Some("192.0.2.0"));
/// assert_eq!(IpStorage::Hashed.store(ip, b"key").unwrap().len(), 32);
/// assert_eq!(IpStorage::None.store(ip, b"key"), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpStorage {
    /// The address as it is (django-hitcount's behaviour). Personal data.
    Full,
    /// The network only: IPv4 to /24, IPv6 to /48. The per-IP limit and
    /// IP blacklists from hits then apply to the whole network.
    Masked,
    /// A keyed hash (HMAC-SHA-256, 128 bits, hex). Pseudonymous: the
    /// address cannot be read back without the key.
    #[default]
    Hashed,
    /// Nothing. The per-IP limit cannot be used.
    None,
}

/// The prefix lengths of [`IpStorage::Masked`].
const MASK_V4: u8 = 24;
const MASK_V6: u8 = 48;

impl IpStorage {
    /// The form of `ip` that the hit log keeps, or `None` when nothing is
    /// kept. `key` is the secret of [`IpStorage::Hashed`].
    ///
    /// ```
    /// use hitcount::IpStorage;
    ///
    /// let a = IpStorage::Hashed.store("2001:db8::1".parse().unwrap(), b"k1");
    /// let b = IpStorage::Hashed.store("2001:db8::1".parse().unwrap(), b"k2");
    /// assert_ne!(a, b, "the hash depends on the key");
    /// ```
    pub fn store(self, ip: IpAddr, key: &[u8]) -> Option<String> {
        let ip = canonical(ip);
        match self {
            IpStorage::Full => Some(ip.to_string()),
            IpStorage::Masked => Some(mask(ip).addr().to_string()),
            IpStorage::Hashed => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(ip.to_string().as_bytes());
                let digest = mac.finalize().into_bytes();
                Some(hex::encode(&digest[..16]))
            }
            IpStorage::None => None,
        }
    }

    /// The blacklist entry that blocks whoever made a hit whose stored IP is
    /// `stored`: the address itself, the masked network as a CIDR, or the
    /// hash.
    pub(crate) fn blacklist_entry(self, stored: &str) -> String {
        match (self, stored.parse::<IpAddr>()) {
            (IpStorage::Masked, Ok(ip)) => mask(ip).to_string(),
            _ => stored.to_owned(),
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are the IPv4 address, so
/// a dual-stack listener does not split one visitor in two.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn mask(ip: IpAddr) -> IpNet {
    let prefix = if ip.is_ipv4() { MASK_V4 } else { MASK_V6 };
    IpNet::new(ip, prefix).expect("prefix is in range").trunc()
}

/// Parses an IP address from untrusted text, naming the text on failure.
///
/// ```
/// assert!(hitcount::parse_ip("192.0.2.1").is_ok());
/// assert!(hitcount::parse_ip("::ffff:192.0.2.1").is_ok());
/// let err = hitcount::parse_ip("300.1.1.1").unwrap_err();
/// assert_eq!(err.to_string(), "invalid IP address \"300.1.1.1\": not an IPv4 or IPv6 address");
/// ```
pub fn parse_ip(text: &str) -> crate::Result<IpAddr> {
    text.parse::<IpAddr>()
        .map(canonical)
        .map_err(|_| crate::error::invalid("IP address", text, "not an IPv4 or IPv6 address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn masking_keeps_the_network() {
        for (input, masked) in [
            ("192.0.2.77", "192.0.2.0"),
            ("10.1.2.3", "10.1.2.0"),
            ("2001:db8:abcd:1234::1", "2001:db8:abcd::"),
            ("::ffff:192.0.2.9", "192.0.2.0"),
        ] {
            assert_eq!(
                IpStorage::Masked.store(ip(input), b"").as_deref(),
                Some(masked),
                "{input}"
            );
        }
    }

    #[test]
    fn hashing_is_stable_and_mapped_addresses_hash_alike() {
        let a = IpStorage::Hashed.store(ip("192.0.2.1"), b"secret").unwrap();
        assert_eq!(a, IpStorage::Hashed.store(ip("192.0.2.1"), b"secret").unwrap());
        assert_eq!(
            a,
            IpStorage::Hashed
                .store(ip("::ffff:192.0.2.1"), b"secret")
                .unwrap()
        );
        assert_ne!(a, IpStorage::Hashed.store(ip("192.0.2.2"), b"secret").unwrap());
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!a.contains("192"));
    }

    #[test]
    fn blacklist_entries_block_what_was_stored() {
        assert_eq!(IpStorage::Masked.blacklist_entry("192.0.2.0"), "192.0.2.0/24");
        assert_eq!(
            IpStorage::Masked.blacklist_entry("2001:db8:abcd::"),
            "2001:db8:abcd::/48"
        );
        assert_eq!(IpStorage::Full.blacklist_entry("192.0.2.7"), "192.0.2.7");
        assert_eq!(IpStorage::Hashed.blacklist_entry("00ff"), "00ff");
    }

    #[test]
    fn invalid_ips_are_rejected_by_name() {
        for bad in [
            "",
            "localhost",
            "1.2.3",
            "1.2.3.4.5",
            "::g",
            "192.0.2.1/24",
            " 192.0.2.1",
        ] {
            let err = parse_ip(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}

#[cfg(test)]
mod proptests;
