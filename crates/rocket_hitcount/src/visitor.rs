//! Visitor sessions. Rocket has none, so the crate keeps its own visitor
//! cookie: a session key and the visitor's visit counts per object.
//!
//! A client that returns no cookie (curl, a bot, a browser refusing
//! cookies) gets a session key derived from its IP and user agent with a
//! secret salt that changes every day (UTC), so repeating requests do not
//! count again, and neither the IP nor the user agent is kept in clear. The
//! cookie set on that response carries the same key, so a browser that
//! does return it keeps its session.

use std::net::IpAddr;

use rocket::http::{Cookie, SameSite};
use rocket::Request;

use crate::client_ip::client_ip;
use crate::config::CookieMode;
use crate::fairing::HitCount;
use crate::secret::hex;

/// Visit counts kept per visitor: the most recent objects.
const MAX_VISITS: usize = 32;

/// What the crate knows of the visitor behind one request.
#[derive(Clone, Debug)]
pub(crate) struct Identified {
    pub visitor: hitcount::Visitor,
    /// Whether the client sent a valid visitor cookie.
    pub returned_cookie: bool,
    /// Views per object pk, most recent last.
    pub visits: Vec<(i64, u32)>,
}

impl Identified {
    pub(crate) fn visits_of(&self, pk: i64) -> u32 {
        self.visits.iter().find(|(p, _)| *p == pk).map_or(0, |(_, n)| *n)
    }
}

/// Identifies the visitor of a request (once per request: cached).
pub(crate) async fn identify<'r>(state: &HitCount, request: &'r Request<'_>) -> &'r Identified {
    request
        .local_cache_async(async {
            let config = state.config();
            let ip = client_ip(
                request.remote().map(|addr| addr.ip()),
                request.headers().get("X-Forwarded-For"),
                request.headers().get_one("X-Real-IP"),
                &config.trusted_proxies,
            );
            let user_agent = request.headers().get_one("User-Agent").unwrap_or("");
            let (session_key, returned_cookie, visits) = match read_cookie(state, request) {
                Some((key, visits)) => (key, true, visits),
                None => (cookieless_key(state, ip, user_agent), false, Vec::new()),
            };
            let do_not_track = ["DNT", "Sec-GPC"]
                .iter()
                .any(|h| request.headers().get_one(h).map(str::trim) == Some("1"));
            let mut visitor = hitcount::Visitor::new(session_key)
                .expect("session keys made here are valid")
                .with_user_agent(user_agent)
                .with_do_not_track(do_not_track);
            if let Some(ip) = ip {
                visitor = visitor.with_ip(ip);
            }
            if let Some(lookup) = state.users() {
                if let Some(user) = lookup(request).await {
                    visitor = visitor.with_user(user);
                }
            }
            Identified {
                visitor,
                returned_cookie,
                visits,
            }
        })
        .await
}

/// The session key of a cookieless client: an HMAC of today's date, its IP
/// and its user agent under the secret; 40 hex characters.
fn cookieless_key(state: &HitCount, ip: Option<IpAddr>, user_agent: &str) -> String {
    let day = chrono::Utc::now().date_naive();
    let ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
    let mac = state.secret().mac(
        "cookieless visitor",
        format!("{day}|{ip}|{user_agent}").as_bytes(),
    );
    hex(&mac[..20])
}

/// `<session key>~<pk>:<n>,<pk>:<n>`.
fn encode(session_key: &str, visits: &[(i64, u32)]) -> String {
    let visits: Vec<String> = visits.iter().map(|(pk, n)| format!("{pk}:{n}")).collect();
    format!("{session_key}~{}", visits.join(","))
}

fn decode(value: &str) -> Option<(String, Vec<(i64, u32)>)> {
    let (key, visits) = value.split_once('~')?;
    if key.is_empty()
        || key.len() > hitcount::MAX_SESSION_KEY_LEN
        || !key.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let visits = if visits.is_empty() {
        Vec::new()
    } else {
        visits
            .split(',')
            .map(|pair| {
                let (pk, n) = pair.split_once(':')?;
                Some((pk.parse().ok()?, n.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()?
    };
    Some((key.to_owned(), visits))
}

const COOKIE_PURPOSE: &str = "visitor cookie";

fn read_cookie(state: &HitCount, request: &Request<'_>) -> Option<(String, Vec<(i64, u32)>)> {
    let config = &state.config().cookie;
    let jar = request.cookies();
    let value = match config.mode {
        CookieMode::Private => jar.get_private(&config.name)?.value().to_owned(),
        CookieMode::Signed => {
            let cookie = jar.get(&config.name)?;
            let (payload, signature) = cookie.value().rsplit_once('.')?;
            if !state.secret().verify(COOKIE_PURPOSE, payload, signature) {
                return None;
            }
            payload.to_owned()
        }
    };
    decode(&value)
}

/// Records a view of object `pk` and (re)sets the visitor cookie. Returns
/// the visitor's views of the object, this one included.
pub(crate) fn record_visit(
    state: &HitCount,
    request: &Request<'_>,
    identified: &Identified,
    pk: Option<i64>,
) -> u32 {
    let mut visits = identified.visits.clone();
    let mut count = 0;
    if let Some(pk) = pk {
        count = identified.visits_of(pk) + 1;
        visits.retain(|(p, _)| *p != pk);
        visits.push((pk, count));
        if visits.len() > MAX_VISITS {
            visits.remove(0);
        }
    }
    let config = &state.config().cookie;
    let payload = encode(identified.visitor.session_key(), &visits);
    let value = match config.mode {
        CookieMode::Private => payload,
        CookieMode::Signed => {
            let signature = state.secret().sign(COOKIE_PURPOSE, &payload);
            format!("{payload}.{signature}")
        }
    };
    let mut cookie = Cookie::build((config.name.clone(), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.secure);
    if !config.expire_at_browser_close {
        cookie = cookie.max_age(rocket::time::Duration::seconds(config.max_age.as_secs() as i64));
    }
    match config.mode {
        CookieMode::Private => request.cookies().add_private(cookie),
        CookieMode::Signed => request.cookies().add(cookie),
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_round_trip() {
        let visits = vec![(1, 3), (42, 1)];
        let value = encode("abc123", &visits);
        assert_eq!(value, "abc123~1:3,42:1");
        assert_eq!(decode(&value), Some(("abc123".into(), visits)));
        assert_eq!(decode("abc123~"), Some(("abc123".into(), vec![])));
        for bad in [
            "",
            "~1:1",
            "abc",
            "zz~1:1",
            "abc~1",
            "abc~x:1",
            "abc~1:-1",
            &format!("{}~", "a".repeat(65)),
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
