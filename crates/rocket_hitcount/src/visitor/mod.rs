//! Visitor sessions. Rocket has none, so the crate keeps its own visitor
//! cookie: a random session key and, with `cookie.visit_counts`, the
//! visitor's visit counts per object; with `cookie.visit_interval`, its
//! visits of the whole site.
//!
//! A request without the cookie (a first visit, curl, a bot, a browser
//! refusing cookies) is counted under a key derived from its IP and user
//! agent with a random salt of the day (UTC) that the database forgets
//! after two days: cookieless clients do not count again on every request,
//! and the key cannot be traced back to the IP once its day is over. The
//! response sets the cookie with a fresh random key and remembers the
//! derived one as the previous key, so a browser's next request neither
//! counts again nor keeps a key that other visitors behind the same address
//! could share.
//!
//! With `cookie.mode = "none"`, no cookie is read or set, and every request
//! is keyed by its IP and user agent under the integration's secret alone:
//! the counter's private hit log, which that mode requires, keeps each key
//! under the day's salt itself, so the key never reaches the database.

use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use rocket::http::{Cookie, SameSite};
use rocket::{warn_, Request};

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome};

use crate::config::{CookieMode, VisitorCookie};
use crate::secret::{random_hex, to_hex};
use crate::state::HitCount;
use client_ip::client_ip;

mod client_ip;

/// Visit counts kept per visitor: the most recent objects.
const MAX_VISITS: usize = 32;

/// What the crate knows of the visitor behind one request.
#[derive(Clone, Debug)]
pub(crate) struct Identified {
    pub visitor: hitcount::Visitor,
    /// The session in the visitor cookie: the random key, and the derived
    /// key of its first, cookieless request.
    pub cookie: CookieSession,
    /// Whether the client sent a valid visitor cookie.
    pub returned_cookie: bool,
    /// Whether this request counted a visit of the site (with
    /// `cookie.visit_interval`): the cookie must be set to keep it.
    pub site_visit_counted: bool,
}

/// The message of a request without the visitor cookie whose IP address
/// and user agent have an active hit: such a visitor never had a session
/// key, so django-hitcount's words would blame one it does not have.
///
/// ```
/// assert_eq!(
///     rocket_hitcount::COOKIELESS_ACTIVE_HIT,
///     "Not counted: visitor without cookie has active hit"
/// );
/// ```
pub const COOKIELESS_ACTIVE_HIT: &str = "Not counted: visitor without cookie has active hit";

impl Identified {
    /// The message of `result` for this visitor: django-hitcount's, except
    /// [`COOKIELESS_ACTIVE_HIT`] for a visitor known by its cookieless key.
    pub(crate) fn hit_message(&self, result: &hitcount::HitResult) -> &'static str {
        if !self.returned_cookie && result.reason == hitcount::Reason::SessionHasActiveHit {
            COOKIELESS_ACTIVE_HIT
        } else {
            result.hit_message
        }
    }

    pub(crate) fn visits_of(&self, pk: i64) -> u32 {
        self.cookie
            .visits
            .iter()
            .find(|(p, _)| *p == pk)
            .map_or(0, |(_, n)| *n)
    }
}

/// The content of the visitor cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CookieSession {
    /// The random session key.
    pub key: String,
    /// The key the first, cookieless request was counted under.
    pub previous: Option<String>,
    /// Views per object pk, most recent last.
    pub visits: Vec<(i64, u32)>,
    /// When the cookie was last set, in seconds since the Unix epoch.
    pub issued: i64,
    /// The visits of the whole site, with `cookie.visit_interval`.
    pub site: Option<SiteVisits>,
}

/// The Django tutorial's `visits` and `last_visit`: the visitor's visits
/// of the whole site, at most one an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SiteVisits {
    /// The visits counted.
    pub count: u32,
    /// When the last one was counted, in seconds since the Unix epoch.
    pub last: i64,
}

impl CookieSession {
    /// Counts a visit of the site at `now` (seconds since the Unix epoch)
    /// when the last one is at least `interval` ago or there is none;
    /// returns whether it did. A last visit ahead of `now` (another
    /// instance's clock, a few seconds fast) is recent: not counted again.
    fn count_site_visit(&mut self, now: i64, interval: hitcount::Window) -> bool {
        let interval = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
        let due = self
            .site
            .is_none_or(|site| now.saturating_sub(site.last) >= interval);
        if due {
            self.site = Some(SiteVisits {
                count: self.site.map_or(0, |site| site.count).saturating_add(1),
                last: now,
            });
        }
        due
    }
}

/// Identifies the visitor of a request (once per request: cached).
pub(crate) async fn identify<'r>(state: &HitCount, request: &'r Request<'_>) -> &'r Identified {
    request
        .local_cache_async(async {
            let config = state.config();
            // The forwarding header counts only from trusted proxies: with
            // none configured, it is not even looked up.
            let forwarded =
                (!config.trusted_proxies.is_empty()).then(|| request.headers().get(&config.proxy_header));
            let ip = client_ip(
                request.remote().map(|addr| addr.ip()),
                forwarded.into_iter().flatten(),
                &config.trusted_proxies,
            );
            let user_agent = request.headers().get_one("User-Agent").unwrap_or("");
            let cookie_free = config.cookie_free();
            let sent = if cookie_free {
                None
            } else {
                read_cookie(state, request)
            };
            let (visitor, mut cookie, returned_cookie) = match sent {
                Some(cookie) => {
                    let mut visitor = hitcount::Visitor::new(cookie.key.clone()).expect("checked when read");
                    if let Some(previous) = &cookie.previous {
                        visitor = visitor
                            .with_previous_session_key(previous.clone())
                            .expect("checked when read");
                    }
                    (visitor, cookie, true)
                }
                None => {
                    let derived = cookieless_key(state, ip, user_agent, cookie_free).await;
                    let cookie = CookieSession {
                        // Never written without cookies.
                        key: if cookie_free {
                            String::new()
                        } else {
                            random_hex::<20>()
                        },
                        previous: Some(derived.clone()),
                        visits: Vec::new(),
                        issued: 0,
                        site: None,
                    };
                    (
                        hitcount::Visitor::new(derived).expect("hex keys are valid"),
                        cookie,
                        false,
                    )
                }
            };
            // The cookie to write holds this request's visit of the site;
            // without the setting, visits kept while it was on are not
            // carried forward. The clock is read only with the setting.
            let site_visit_counted = match config.cookie.visit_interval {
                Some(interval) => cookie.count_site_visit(state.counter().now().timestamp(), interval),
                None => {
                    cookie.site = None;
                    false
                }
            };
            let do_not_track = ["DNT", "Sec-GPC"]
                .iter()
                .any(|h| request.headers().get_one(h).map(str::trim) == Some("1"));
            let mut visitor = visitor
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
                cookie,
                returned_cookie,
                site_visit_counted,
            }
        })
        .await
}

/// The session key of a request without the cookie: an HMAC of its IP
/// and user agent under the day's salt; 40 hex characters. Without
/// cookies (`cookie_free`), under the integration's secret: the private
/// hit log keys it under the day's salt, at the time it counts.
async fn cookieless_key(state: &HitCount, ip: Option<IpAddr>, user_agent: &str, cookie_free: bool) -> String {
    // `<ip>|<user agent>`, the IP written on the stack: no allocation.
    let mut ip_text = [0u8; 64];
    let ip_len = match ip {
        Some(ip) => {
            let mut cursor = std::io::Cursor::new(&mut ip_text[..]);
            write!(cursor, "{ip}").expect("an IP fits in 64 bytes");
            cursor.position() as usize
        }
        None => 0,
    };
    let message = [&ip_text[..ip_len], b"|", user_agent.as_bytes()];
    if cookie_free {
        return to_hex(&state.secret().mac_parts(COOKIELESS_PURPOSE, &message)[..20]);
    }
    let mac = match state.counter().daily_salt().await {
        Ok(salt) => state
            .cookieless_keys()
            .for_salt(salt)
            .mac_parts(COOKIELESS_PURPOSE, &message),
        Err(e) => {
            // Counting goes on with a key of the integration's secret and
            // the date, which is stable for the day as well. An outage is
            // logged by the counter, once.
            if !matches!(e, hitcount::Error::Unavailable { .. }) {
                warn_!("rocket-hitcount: no daily salt ({e}); using the secret key");
            }
            let day = format!("{}|", chrono::Utc::now().date_naive());
            let [ip, bar, agent] = message;
            state
                .secret()
                .mac_parts(COOKIELESS_PURPOSE, &[day.as_bytes(), ip, bar, agent])
        }
    };
    to_hex(&mac[..20])
}

const COOKIELESS_PURPOSE: &str = "cookieless visitor";

/// The visitor of this request, identified once per request: the guard
/// inside [`Hits`](crate::Hits) and the AJAX endpoint's.
pub(crate) struct Visit<'r> {
    pub state: &'r HitCount,
    pub request: &'r Request<'r>,
    pub identified: &'r Identified,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Visit<'r> {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        // `Hits`' sentinel keeps an app without the fairing from launching;
        // the endpoint is mounted by the fairing.
        let Some(state) = HitCount::fetch(request.rocket()) else {
            return Outcome::Error((Status::InternalServerError, ()));
        };
        let identified = identify(state, request).await;
        Outcome::Success(Visit {
            state,
            request,
            identified,
        })
    }
}

/// Hands out the visitor cookie on any page that uses the guard, so the
/// next request can return it (Django's test cookie), and again when the
/// request counted a visit of the site (`cookie.visit_interval`): when
/// the handler is done with the guard, unless the request set it already
/// (counting does:
/// one cookie to encrypt, not two, and never an older one over it). Rocket
/// adds the cookies to the response after the handler returns; a guard
/// kept alive by a streaming body sets none.
impl Drop for Visit<'_> {
    fn drop(&mut self) {
        let changed = !self.identified.returned_cookie || self.identified.site_visit_counted;
        if changed && !visit_recorded(self.request) {
            record_visit(self.state, self.request, self.identified, None);
        }
    }
}

fn is_key(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= hitcount::MAX_SESSION_KEY_LEN
        && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `<key>~<pk>:<n>_<pk>:<n>~<previous key>~<issued>` (underscores between
/// visits: commas are not allowed in cookie values), and with site visits
/// `~<visits>:<last visit>` after it: without them, the value is as
/// before the setting existed.
fn encode(session: &CookieSession) -> String {
    let visits: Vec<String> = session.visits.iter().map(|(pk, n)| format!("{pk}:{n}")).collect();
    let mut value = format!(
        "{}~{}~{}~{}",
        session.key,
        visits.join("_"),
        session.previous.as_deref().unwrap_or(""),
        session.issued
    );
    if let Some(site) = session.site {
        value.push_str(&format!("~{}:{}", site.count, site.last));
    }
    value
}

fn decode(value: &str) -> Option<CookieSession> {
    let mut parts = value.split('~');
    let (key, visits, previous) = (parts.next()?, parts.next()?, parts.next()?);
    // A cookie of an earlier build has no time: 0, so it is renewed by
    // its next count and keeps its key meanwhile.
    let issued: i64 = parts.next().map_or(Some(0), |t| t.parse().ok())?;
    // A cookie without site visits has no fifth part.
    let site = match parts.next() {
        None => None,
        Some(site) => {
            let (count, last) = site.split_once(':')?;
            Some(SiteVisits {
                count: count.parse().ok()?,
                last: last.parse().ok().filter(|last| *last >= 0)?,
            })
        }
    };
    if parts.next().is_some() || !is_key(key) || !(previous.is_empty() || is_key(previous)) || issued < 0 {
        return None;
    }
    let visits = if visits.is_empty() {
        Vec::new()
    } else {
        visits
            .split('_')
            .map(|pair| {
                let (pk, n) = pair.split_once(':')?;
                Some((pk.parse().ok()?, n.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()?
    };
    Some(CookieSession {
        key: key.to_owned(),
        previous: (!previous.is_empty()).then(|| previous.to_owned()),
        visits,
        issued,
        site,
    })
}

const COOKIE_PURPOSE: &str = "visitor cookie";

fn read_cookie(state: &HitCount, request: &Request<'_>) -> Option<CookieSession> {
    let config = &state.config().cookie;
    let jar = request.cookies();
    let cookie = jar.get(&config.name)?;
    match config.mode {
        CookieMode::Private => {
            let value = state
                .cookie_cipher()
                .open(config.name.as_bytes(), cookie.value())?;
            decode(std::str::from_utf8(&value).ok()?)
        }
        CookieMode::Signed => {
            let (payload, signature) = cookie.value().rsplit_once('.')?;
            if !state.secret().verify(COOKIE_PURPOSE, payload, signature) {
                return None;
            }
            decode(payload)
        }
        CookieMode::None => None,
    }
}

/// Marks a request whose visitor cookie was set (see [`visit_recorded`]).
struct VisitRecorded(AtomicBool);

/// Whether [`record_visit`] set the visitor cookie of this request.
pub(crate) fn visit_recorded(request: &Request<'_>) -> bool {
    recorded_flag(request).load(Ordering::Relaxed)
}

fn recorded_flag<'r>(request: &'r Request<'_>) -> &'r AtomicBool {
    &request.local_cache(|| VisitRecorded(AtomicBool::new(false))).0
}

/// Records a view of object `pk` in the visitor cookie and sets the
/// cookie when that changes it: for a visitor who returned none (a new
/// key), with `cookie.visit_counts` for every view of a counted object,
/// with `cookie.visit_interval` when the request counted a visit of the
/// site, and when it would run out too soon ([`needs_renewal`]). Else
/// a returning browser gets no `Set-Cookie`, as Django sends none for a
/// session it did not modify. Returns the visitor's views of the object,
/// this one included, when they are kept.
pub(crate) fn record_visit(
    state: &HitCount,
    request: &Request<'_>,
    identified: &Identified,
    pk: Option<i64>,
) -> Option<u32> {
    if state.config().cookie_free() {
        // No visit counts either: they would live in the cookie.
        return None;
    }
    let config = &state.config().cookie;
    let viewed = pk.filter(|_| config.visit_counts);
    let visits = config
        .visit_counts
        .then(|| viewed.map_or(0, |pk| identified.visits_of(pk) + 1));
    let now = state.counter().now().timestamp();
    let keep_active = state.counter().settings().keep_hit_active;
    if identified.returned_cookie
        && viewed.is_none()
        && !identified.site_visit_counted
        && !needs_renewal(config, keep_active, identified.cookie.issued, now)
    {
        return visits;
    }
    let mut session = identified.cookie.clone();
    session.issued = now;
    if !config.visit_counts {
        // Counts kept while the setting was on are not carried forward.
        session.visits.clear();
    }
    if let (Some(pk), Some(count)) = (viewed, visits) {
        session.visits.retain(|(p, _)| *p != pk);
        session.visits.push((pk, count));
        if session.visits.len() > MAX_VISITS {
            session.visits.remove(0);
        }
    }
    let payload = encode(&session);
    let value = match config.mode {
        CookieMode::Private => state
            .cookie_cipher()
            .seal(config.name.as_bytes(), payload.as_bytes()),
        CookieMode::Signed => {
            let signature = state.secret().sign(COOKIE_PURPOSE, &payload);
            format!("{payload}.{signature}")
        }
        CookieMode::None => unreachable!("returned above"),
    };
    // Sealed or signed here, so a plain cookie to Rocket: it adds no
    // `Expires` of its own (it gives private cookies a week), and no
    // second encryption.
    let cookie = Cookie::build((config.name.clone(), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax);
    let mut cookie = if config.expire_at_browser_close {
        cookie.build()
    } else {
        // `Max-Age` alone: every browser in use honours it, and formatting
        // an `Expires` date costs more than the rest of the header.
        cookie
            .max_age(rocket::time::Duration::seconds(config.max_age.as_secs() as i64))
            .build()
    };
    config.mark_secure(&mut cookie);
    request.cookies().add(cookie);
    recorded_flag(request).store(true, Ordering::Relaxed);
    visits
}

/// Whether a returned cookie is set again to outlive the visitor's active
/// hits: when it has less than `keep_hit_active` left. A hit made now
/// stays active that long, and a cookie gone before it would have the
/// visitor counted again inside the window. Browser-session cookies have
/// no age to run out. A time ahead of `now` (another instance's clock) is
/// not trusted: renewed.
fn needs_renewal(config: &VisitorCookie, keep_active: hitcount::Window, issued: i64, now: i64) -> bool {
    if config.expire_at_browser_close {
        return false;
    }
    let expires = issued.saturating_add(config.lasting_age() as i64);
    issued > now || expires.saturating_sub(now) < keep_active.as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_round_trip() {
        let session = CookieSession {
            key: "abc123".into(),
            previous: Some("def456".into()),
            visits: vec![(1, 3), (42, 1)],
            issued: 1_780_000_000,
            site: None,
        };
        let value = encode(&session);
        assert_eq!(value, "abc123~1:3_42:1~def456~1780000000");
        assert!(!value.contains(','), "commas are not allowed in cookie values");
        assert_eq!(decode(&value), Some(session.clone()));
        let bare = decode("abc123~~~0").unwrap();
        assert_eq!(decode("abc123~~").unwrap().issued, 0, "an earlier build's cookie");
        assert_eq!((bare.previous, bare.visits, bare.site), (None, vec![], None));
        let counted = CookieSession {
            site: Some(SiteVisits {
                count: 5,
                last: 1_779_990_000,
            }),
            ..session
        };
        let value = encode(&counted);
        assert_eq!(value, "abc123~1:3_42:1~def456~1780000000~5:1779990000");
        assert_eq!(decode(&value), Some(counted));
        let long = format!("{}~~~0", "a".repeat(65));
        for bad in [
            "",
            "~1:1~",
            "abc",
            "abc~",
            "zz~1:1~",
            "abc~1~",
            "abc~x:1~",
            "abc~1:-1~",
            "abc~~zz~0",
            "a~~b~c~0",
            "abc~~~",
            "abc~~~-1",
            "abc~~~x",
            "abc~~~0~",
            "abc~~~0~5",
            "abc~~~0~:1",
            "abc~~~0~5:",
            "abc~~~0~x:1",
            "abc~~~0~-1:1",
            "abc~~~0~5:-1",
            "abc~~~0~5:1~",
            "abc~~~0~5:1:2",
            &long,
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_site_visit_counts_once_an_interval() {
        let day = hitcount::Window::days(1);
        let t = 1_780_000_000;
        let mut session = decode("abc~~~0").unwrap();
        assert!(session.count_site_visit(t, day), "the first visit");
        assert!(!session.count_site_visit(t + 86_399, day), "the same day");
        assert!(session.count_site_visit(t + 86_400, day), "a day later");
        assert_eq!(
            session.site,
            Some(SiteVisits {
                count: 2,
                last: t + 86_400
            })
        );
        assert!(!session.count_site_visit(t, day), "a last visit ahead of now");
        assert_eq!(session.site.unwrap().count, 2);
        session.site = Some(SiteVisits {
            count: u32::MAX,
            last: 0,
        });
        assert!(session.count_site_visit(t, day));
        assert_eq!(session.site.unwrap().count, u32::MAX, "saturates");
    }

    #[test]
    fn a_cookie_is_renewed_when_it_would_die_before_an_active_hit() {
        let day = 86_400;
        let cookie = VisitorCookie::default(); // two weeks
        let week = hitcount::Window::days(7);
        let issued = 1_780_000_000;
        let renews = |cookie: &VisitorCookie, keep, age| needs_renewal(cookie, keep, issued, issued + age);
        assert!(!renews(&cookie, week, 0));
        assert!(!renews(&cookie, week, 7 * day), "exactly a week left");
        assert!(renews(&cookie, week, 7 * day + 1));
        assert!(renews(&cookie, week, 30 * day), "long gone");
        let month = hitcount::Window::days(30);
        assert!(renews(&cookie, month, 0), "shorter than the window: every time");
        assert!(renews(&cookie, week, -1), "issued in the future");
        let years = VisitorCookie {
            max_age: hitcount::Window::days(3 * 365),
            ..VisitorCookie::default()
        };
        assert!(!renews(&years, week, 390 * day));
        assert!(
            renews(&years, week, 394 * day),
            "browsers forget it after 400 days"
        );
        let session_only = VisitorCookie {
            expire_at_browser_close: true,
            ..VisitorCookie::default()
        };
        assert!(!renews(&session_only, month, 30 * day));
    }
}

#[cfg(test)]
mod proptests;
