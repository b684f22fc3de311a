//! The client's IP address: the socket peer, or, behind trusted proxies,
//! the right-most untrusted address of the forwarding header they set
//! (`X-Forwarded-For` by default, `X-Real-IP` for proxies that set that).
//!
//! Rocket's `Request::client_ip()` trusts `X-Real-IP` from anyone, which
//! would let any client choose the IP that is counted, blacklisted and
//! limited. The one configured forwarding header is read here only when the
//! socket peer is one of the configured `trusted_proxies`; any other is
//! ignored, since a proxy passes through what the client sent in it.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// Finds the client IP of a request, given its socket peer and the values
/// of the forwarding header its trusted proxies set (all values, in order).
///
/// Walking the header from the right skips the trusted proxies (each
/// appended the address it received from); the first address that is not
/// a trusted proxy is the client. An entry that is not an address stops
/// the walk: whatever stands left of it was written by someone untrusted,
/// so the last good hop is used. When every entry is trusted, the
/// left-most is the client.
pub(crate) fn client_ip<'h>(
    peer: Option<IpAddr>,
    forwarded: impl IntoIterator<Item = &'h str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer.map(canonical)?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut last_good = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(&ip) => last_good = ip,
            Some(ip) => return Some(ip),
            None => return Some(last_good),
        }
    }
    Some(last_good)
}

/// One entry of the forwarding header: an IPv4 or IPv6 address, optionally with a
/// port (`192.0.2.1:8080`, `[2001:db8::1]:8080`) or in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
        .map(canonical)
}

/// IPv4-mapped IPv6 addresses are their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// One line per case: trusted proxies, peer, forwarding header values,
    /// and the client IP that must come out.
    macro_rules! ip_cases {
        ($($name:ident: $trusted:expr, $peer:expr, [$($xff:expr),*] => $expected:expr;)*) => {$(
            #[test]
            fn $name() {
                let peer: Option<IpAddr> = ($peer as Option<&str>).map(|p| p.parse().unwrap());
                let expected: Option<IpAddr> = ($expected as Option<&str>).map(|p| p.parse().unwrap());
                assert_eq!(client_ip(peer, [$($xff),*], &nets(&$trusted)), expected);
            }
        )*};
    }

    const NONE: [&str; 0] = [];
    const PROXY: [&str; 1] = ["10.0.0.0/8"];
    const PROXIES: [&str; 2] = ["10.0.0.0/8", "2001:db8:ffff::/48"];

    ip_cases! {
        peer_without_headers: NONE, Some("203.0.113.7"), [] => Some("203.0.113.7");
        no_peer: NONE, None, ["198.51.100.1"] => None;
        untrusted_xff_ignored: NONE, Some("203.0.113.7"), ["198.51.100.1"] => Some("203.0.113.7");
        xff_from_untrusted_peer_ignored: PROXY, Some("203.0.113.7"), ["198.51.100.1"] => Some("203.0.113.7");
        trusted_proxy_one_hop: PROXY, Some("10.0.0.2"), ["198.51.100.1"] => Some("198.51.100.1");
        spoofed_left_entries_skipped: PROXY, Some("10.0.0.2"), ["1.1.1.1, 198.51.100.1"] => Some("198.51.100.1");
        chain_of_trusted_proxies: PROXY, Some("10.0.0.2"), ["198.51.100.1, 10.0.0.9, 10.0.0.3"] => Some("198.51.100.1");
        several_headers_are_one_list: PROXY, Some("10.0.0.2"), ["198.51.100.1", "10.0.0.3"] => Some("198.51.100.1");
        all_trusted_gives_leftmost: PROXY, Some("10.0.0.2"), ["10.0.0.5, 10.0.0.3"] => Some("10.0.0.5");
        malformed_rightmost_uses_peer: PROXY, Some("10.0.0.2"), ["198.51.100.1, garbage"] => Some("10.0.0.2");
        malformed_left_of_client_ignored: PROXY, Some("10.0.0.2"), ["garbage, 198.51.100.1"] => Some("198.51.100.1");
        malformed_after_trusted_hop: PROXY, Some("10.0.0.2"), ["1.2.3.4, unknown, 10.0.0.3"] => Some("10.0.0.3");
        empty_entries: PROXY, Some("10.0.0.2"), [" , "] => Some("10.0.0.2");
        empty_header: PROXY, Some("10.0.0.2"), [""] => Some("10.0.0.2");
        port_is_stripped: PROXY, Some("10.0.0.2"), ["198.51.100.1:4711"] => Some("198.51.100.1");
        ipv6_client: PROXIES, Some("10.0.0.2"), ["2001:db8::1"] => Some("2001:db8::1");
        ipv6_bracketed_with_port: PROXIES, Some("10.0.0.2"), ["[2001:db8::1]:443"] => Some("2001:db8::1");
        ipv6_bracketed: PROXIES, Some("10.0.0.2"), ["[2001:db8::1]"] => Some("2001:db8::1");
        ipv6_proxy: PROXIES, Some("2001:db8:ffff::1"), ["198.51.100.1"] => Some("198.51.100.1");
        mapped_peer_is_ipv4: PROXY, Some("::ffff:10.0.0.2"), ["198.51.100.1"] => Some("198.51.100.1");
        mapped_client_is_ipv4: PROXY, Some("10.0.0.2"), ["::ffff:198.51.100.1"] => Some("198.51.100.1");
        x_real_ip_as_the_header: PROXY, Some("10.0.0.2"), ["198.51.100.1"] => Some("198.51.100.1");
        overlong_octet_rejected: PROXY, Some("10.0.0.2"), ["1.2.3.4567"] => Some("10.0.0.2");
    }
}

#[cfg(test)]
mod proptests;
