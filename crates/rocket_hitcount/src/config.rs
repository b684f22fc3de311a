//! `[default.hitcount]`: the counter's settings plus the integration's own.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hitcount::{Settings, Window};
use ipnet::IpNet;
use rocket::figment::Figment;
use rocket::http::Cookie;
use serde::{Deserialize, Deserializer, Serialize};

/// How the visitor cookie is protected.
///
/// ```
/// let mode: rocket_hitcount::CookieMode = serde_json::from_str("\"signed\"").unwrap();
/// assert_eq!(mode, rocket_hitcount::CookieMode::Signed);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieMode {
    /// Encrypted and authenticated (AES-256-GCM) under a key derived from
    /// `hitcount.secret_key`. The default.
    #[default]
    Private,
    /// Readable, but signed with `hitcount.secret_key`: for seeing what a
    /// browser holds.
    Signed,
}

/// The visitor cookie: Django's session cookie settings.
///
/// ```
/// let cookie = rocket_hitcount::VisitorCookie::default();
/// assert_eq!(cookie.name, "hitcount_visitor");
/// assert_eq!(cookie.max_age, rocket_hitcount::Window::days(14));
/// assert!(!cookie.visit_counts, "views per visitor are kept on request");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct VisitorCookie {
    /// The cookie's name. Default `hitcount_visitor`.
    pub name: String,
    /// How long the cookie lives (`SESSION_COOKIE_AGE`). Default two weeks.
    pub max_age: Window,
    /// Make it a browser-session cookie, without an age
    /// (`SESSION_EXPIRE_AT_BROWSER_CLOSE`). Default `false`.
    pub expire_at_browser_close: bool,
    /// Send it over HTTPS only (`SESSION_COOKIE_SECURE`). Default `false`;
    /// set it on every site served over HTTPS.
    pub secure: bool,
    /// Private (encrypted) or signed. Default `private`.
    pub mode: CookieMode,
    /// Keep the visitor's views per object in the cookie, for "You have
    /// visited this page N times" ([`HitContext::visits`]). Default
    /// `false`: the cookie is then set on the first visit, as Django sets
    /// its session cookie, and again only when less than
    /// `keep_hit_active` of its age is left; a returning browser's pages
    /// carry no `Set-Cookie`. With `true`, every counted view sets it
    /// again with one more visit.
    ///
    /// [`HitContext::visits`]: crate::HitContext::visits
    pub visit_counts: bool,
}

impl VisitorCookie {
    /// Switches `Secure` on when `secure` is set, and never off: left
    /// unset, Rocket sets it by itself under TLS. For both of our cookies.
    pub(crate) fn mark_secure(&self, cookie: &mut Cookie<'_>) {
        if self.secure {
            cookie.set_secure(true);
        }
    }

    /// How long, in seconds, browsers keep the cookie: its `max_age`, at
    /// most the 400 days browsers honour (RFC 6265bis).
    pub(crate) fn lasting_age(&self) -> u64 {
        self.max_age.as_secs().min(BROWSER_MAX_AGE)
    }
}

/// The longest `Max-Age` browsers honour (RFC 6265bis): 400 days.
const BROWSER_MAX_AGE: u64 = 400 * 86_400;

impl Default for VisitorCookie {
    fn default() -> Self {
        VisitorCookie {
            name: "hitcount_visitor".into(),
            max_age: Window::days(14),
            expire_at_browser_close: false,
            secure: false,
            mode: CookieMode::Private,
            visit_counts: false,
        }
    }
}

/// Everything under `[default.hitcount]` in `Rocket.toml` (or
/// `ROCKET_HITCOUNT={...}`): the counting settings of
/// [`hitcount::Settings`], flattened, and the integration's keys.
///
/// ```
/// use rocket::figment::{Figment, providers::{Format, Toml}};
///
/// let figment = Figment::new().merge(Toml::string(r#"
///     [hitcount]
///     keep_hit_active = "1 day"
///     base_path = "/stats"
///     trusted_proxies = ["10.0.0.0/8", "192.0.2.1"]
///     cookie = { secure = true }
/// "#));
/// let config = rocket_hitcount::Config::from_figment(&figment).unwrap();
/// assert_eq!(config.counting.keep_hit_active, rocket_hitcount::Window::days(1));
/// assert_eq!(config.base_path, "/stats");
/// assert_eq!(config.trusted_proxies.len(), 2);
/// assert!(config.cookie.secure);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Config {
    /// The counting rules' settings (`keep_hit_active`, ...), at the same
    /// level as the keys below.
    #[serde(flatten)]
    pub counting: Settings,
    /// Where the AJAX endpoint and the scripts are mounted. Default
    /// `/hitcount`.
    pub base_path: String,
    /// The integration's secret (32 characters or more): it signs page
    /// tokens and signed cookies, seals private ones, and salts the key of
    /// cookieless visitors when the database gives no salt of the day.
    /// Required in release builds; debug builds make a random one per run.
    pub secret_key: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed: CIDRs or addresses.
    /// Default none: forwarding headers are ignored.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
    /// The forwarding header that `trusted_proxies` set: `X-Forwarded-For`
    /// (the default) or, for proxies configured that way, `X-Real-IP`. Only
    /// this header is read, and only from a trusted proxy.
    pub proxy_header: String,
    /// How long a page token lets the page's script count a hit. Longer
    /// than the longest time a CDN may cache your pages. Default 1 day.
    pub token_ttl: Window,
    /// Whether the AJAX endpoint requires a page token. Default `true`.
    pub require_token: bool,
    /// The visitor cookie.
    pub cookie: VisitorCookie,
    /// The CSRF cookie's name (Django's `CSRF_COOKIE_NAME`). Default
    /// `csrftoken`.
    pub csrf_cookie_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            counting: Settings::default(),
            base_path: "/hitcount".into(),
            secret_key: None,
            trusted_proxies: Vec::new(),
            proxy_header: "X-Forwarded-For".into(),
            token_ttl: Window::days(1),
            require_token: true,
            cookie: VisitorCookie::default(),
            csrf_cookie_name: "csrftoken".into(),
        }
    }
}

/// Every key `[hitcount]` may hold, to catch typos (serde cannot deny
/// unknown fields next to a flattened struct).
const KEYS: &[&str] = &[
    "keep_hit_active",
    "hits_per_ip_limit",
    "hits_per_ip_scope",
    "exclude_user_groups",
    "keep_hit_in_database",
    "ip_storage",
    "ip_hash_key",
    "bots",
    "respect_do_not_track",
    "cleanup_batch_size",
    "cleanup_interval",
    "blacklist_refresh",
    "counts_refresh",
    "sqlite_wal",
    "fast_commits",
    "base_path",
    "secret_key",
    "trusted_proxies",
    "proxy_header",
    "token_ttl",
    "require_token",
    "cookie",
    "csrf_cookie_name",
];

impl Config {
    /// Reads and validates `hitcount` from a figment (Rocket's, at
    /// ignite). The error names the key and the value.
    ///
    /// ```
    /// use rocket::figment::{Figment, providers::Serialized};
    ///
    /// let figment = Figment::new().merge(Serialized::default("hitcount.keep_hits_active", "1 day"));
    /// let err = rocket_hitcount::Config::from_figment(&figment).unwrap_err();
    /// assert!(err.contains("keep_hits_active"), "{err}");
    /// ```
    pub fn from_figment(figment: &Figment) -> Result<Config, String> {
        let scoped = figment.focus("hitcount");
        let keys: BTreeMap<String, rocket::figment::value::Value> = scoped
            .extract()
            .map_err(|e| format!("invalid [hitcount] settings: {e}"))?;
        if keys.contains_key("counting") {
            return Err(
                "`hitcount.counting` is not a setting: hits are always counted exactly, \
                        on any number of app instances; delete the key"
                    .to_owned(),
            );
        }
        if let Some(unknown) = keys.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown setting `hitcount.{unknown}` (known: {})",
                KEYS.join(", ")
            ));
        }
        let named = |e: rocket::figment::Error| {
            format!("invalid setting `hitcount.{}`: {}", e.path.join("."), e.kind)
        };
        // The counting settings first, on their own: inside `Config` they
        // are flattened, and serde then loses the key of an error.
        scoped.extract::<Settings>().map_err(named)?;
        let config: Config = scoped.extract().map_err(named)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types cannot; the error names the key and the value.
    ///
    /// ```
    /// let mut config = rocket_hitcount::Config::default();
    /// config.base_path = "stats".into();
    /// assert!(config.validate().unwrap_err().contains("base_path"));
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        self.counting.validate().map_err(|e| e.to_string())?;
        let fail = |key: &str, value: &str, reason: &str| {
            Err(format!(
                "invalid value {value:?} for setting `hitcount.{key}`: {reason}"
            ))
        };
        if !self.base_path.starts_with('/')
            || rocket::http::uri::Origin::parse(&self.base_path).is_err()
            || self.base_path.contains('?')
        {
            return fail(
                "base_path",
                &self.base_path,
                "must be an absolute path such as \"/hitcount\"",
            );
        }
        if matches!(&self.secret_key, Some(key) if key.len() < 32) {
            return fail("secret_key", "(hidden)", "must be at least 32 characters long");
        }
        for (key, name) in [
            ("cookie.name", &self.cookie.name),
            ("csrf_cookie_name", &self.csrf_cookie_name),
        ] {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return fail(
                    key,
                    name,
                    "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~",
                );
            }
        }
        if self.cookie.name == self.csrf_cookie_name {
            return fail(
                "csrf_cookie_name",
                &self.csrf_cookie_name,
                "must differ from cookie.name",
            );
        }
        let header_name = !self.proxy_header.is_empty()
            && self
                .proxy_header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !header_name {
            return fail(
                "proxy_header",
                &self.proxy_header,
                "must be a header name such as \"X-Real-IP\"",
            );
        }
        if self.token_ttl.as_secs() == 0 {
            return fail(
                "token_ttl",
                &self.token_ttl.to_string(),
                "must be longer than zero",
            );
        }
        if self.cookie.max_age.as_secs() == 0 && !self.cookie.expire_at_browser_close {
            return fail(
                "cookie.max_age",
                &self.cookie.max_age.to_string(),
                "must be longer than zero",
            );
        }
        Ok(())
    }

    /// Settings that are valid but work against the visitor, one message
    /// each, naming the keys; the fairing logs them as warnings at ignite.
    /// A visitor cookie that does not outlive `keep_hit_active` is set
    /// again on every counted view; a shorter one can be gone while the
    /// visitor's hit is still active, counting a returning visitor twice
    /// inside the window.
    ///
    /// ```
    /// let mut config = rocket_hitcount::Config::default();
    /// assert!(config.warnings().is_empty());
    /// config.cookie.max_age = rocket_hitcount::Window::days(1);
    /// assert!(config.warnings()[0].contains("cookie.max_age"));
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let keep_active = self.counting.keep_hit_active;
        let lasting = self.cookie.lasting_age();
        if !self.cookie.expire_at_browser_close && lasting <= keep_active.as_secs() {
            let capped = if lasting < self.cookie.max_age.as_secs() {
                ", of which browsers keep 400 days"
            } else {
                ""
            };
            // Equal, it runs out as the hit stops being active: not before.
            let recounted = if lasting < keep_active.as_secs() {
                ", and a visitor whose cookie ran out while a hit was still active is counted again"
            } else {
                ""
            };
            warnings.push(format!(
                "`hitcount.cookie.max_age` ({}{capped}) is not longer than `hitcount.keep_hit_active` \
                 ({keep_active}): the visitor cookie is set again on every page that counts{recounted}",
                self.cookie.max_age
            ));
        }
        warnings
    }

    /// The AJAX endpoint's path, `<base_path>/hit/ajax/`.
    ///
    /// ```
    /// assert_eq!(rocket_hitcount::Config::default().ajax_url(), "/hitcount/hit/ajax/");
    /// ```
    pub fn ajax_url(&self) -> String {
        self.under_base("hit/ajax/")
    }

    /// Where the fairing serves `hitcount.js`.
    ///
    /// ```
    /// assert_eq!(rocket_hitcount::Config::default().script_url(), "/hitcount/static/hitcount.js");
    /// ```
    pub fn script_url(&self) -> String {
        self.under_base("static/hitcount.js")
    }

    /// Where the fairing serves `jquery.postcsrf.js`.
    ///
    /// ```
    /// assert_eq!(
    ///     rocket_hitcount::Config::default().jquery_script_url(),
    ///     "/hitcount/static/jquery.postcsrf.js"
    /// );
    /// ```
    pub fn jquery_script_url(&self) -> String {
        self.under_base("static/jquery.postcsrf.js")
    }

    /// `path` under the base path, with one slash between them.
    fn under_base(&self, path: &str) -> String {
        format!("{}/{path}", self.base_path.trim_end_matches('/'))
    }
}

/// Proxies as CIDRs (`10.0.0.0/8`) or single addresses (`10.0.0.1`).
fn networks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    let entries = Vec::<String>::deserialize(deserializer)?;
    entries
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{entry:?} is not an IP address or a network such as 10.0.0.0/8"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::figment::providers::{Format, Toml};

    fn read(toml: &str) -> Result<Config, String> {
        Config::from_figment(&Figment::new().merge(Toml::string(toml).nested()))
    }

    #[test]
    fn defaults_without_a_table() {
        assert_eq!(read("").unwrap(), Config::default());
        assert_eq!(read("[default]\nport = 8000").unwrap(), Config::default());
    }

    #[test]
    fn every_key_reads() {
        let config = read(
            r#"
            [default.hitcount]
            keep_hit_active = { days = 1 }
            hits_per_ip_limit = 3
            cleanup_interval = "1 hour"
            base_path = "/stats"
            secret_key = "0123456789abcdef0123456789abcdef"
            trusted_proxies = ["10.0.0.0/8", "2001:db8::1"]
            token_ttl = "2 hours"
            require_token = false
            csrf_cookie_name = "xsrf"
            cookie = { name = "v", max_age = "1 day", expire_at_browser_close = true, secure = true, mode = "signed", visit_counts = true }
            "#,
        )
        .unwrap();
        assert_eq!(config.counting.keep_hit_active, Window::days(1));
        assert_eq!(config.counting.hits_per_ip_limit, 3);
        assert_eq!(config.counting.cleanup_interval, Some(Window::hours(1)));
        assert_eq!(config.ajax_url(), "/stats/hit/ajax/");
        assert_eq!(config.trusted_proxies[1].to_string(), "2001:db8::1/128");
        assert_eq!(config.token_ttl, Window::hours(2));
        assert!(!config.require_token);
        assert_eq!(config.csrf_cookie_name, "xsrf");
        assert_eq!(config.cookie.mode, CookieMode::Signed);
        assert!(config.cookie.expire_at_browser_close && config.cookie.secure);
        assert!(config.cookie.visit_counts);
    }

    /// A cookie that does not outlive an active hit launches with a
    /// warning naming both keys; a browser-session cookie has no age.
    #[test]
    fn a_cookie_shorter_than_an_active_hit_is_warned_about() {
        let mut config = Config::default();
        assert_eq!(
            config.warnings(),
            Vec::<String>::new(),
            "two weeks outlive a week"
        );
        config.cookie.max_age = Window::days(7);
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("`hitcount.cookie.max_age` (days=7)"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[0].contains("`hitcount.keep_hit_active` (days=7)"),
            "{}",
            warnings[0]
        );
        assert!(
            !warnings[0].contains("counted again"),
            "equal: it runs out with the hit"
        );
        config.cookie.max_age = Window::days(6);
        let warnings = config.warnings();
        assert!(warnings[0].ends_with("is counted again"), "{warnings:?}");
        config.cookie.expire_at_browser_close = true;
        assert!(config.warnings().is_empty(), "no age to run out");
        config.cookie.expire_at_browser_close = false;
        config.cookie.max_age = Window::days(500);
        config.counting.keep_hit_active = Window::days(450);
        let warnings = config.warnings();
        assert!(
            warnings[0].contains("of which browsers keep 400 days"),
            "{warnings:?}"
        );
        config.counting.keep_hit_active = Window::days(399);
        assert!(config.warnings().is_empty());
    }

    /// Each invalid setting stops with a message naming the key and value.
    #[test]
    fn invalid_settings_name_key_and_value() {
        for (toml, key, value) in [
            ("keep_hit_active = \"7 dayz\"", "keep_hit_active", "7 dayz"),
            ("keep_hits_active = \"7 days\"", "keep_hits_active", "unknown"),
            ("counting = \"exact\"", "counting", "always counted exactly"),
            ("hits_per_ip_limit = \"many\"", "hits_per_ip_limit", "many"),
            ("ip_storage = \"partial\"", "ip_storage", "partial"),
            (
                "keep_hit_in_database = \"1 day\"",
                "keep_hit_in_database",
                "days=1",
            ),
            ("base_path = \"stats\"", "base_path", "stats"),
            ("secret_key = \"short\"", "secret_key", "32"),
            (
                "trusted_proxies = [\"10.0.0.0/33\"]",
                "trusted_proxies",
                "10.0.0.0/33",
            ),
            (
                "trusted_proxies = [\"proxy.local\"]",
                "trusted_proxies",
                "proxy.local",
            ),
            ("cookie = { name = \"a b\" }", "cookie.name", "a b"),
            ("cookie = { nme = \"x\" }", "cookie", "nme"),
            ("cookie = { max_age = \"forever\" }", "cookie.max_age", "forever"),
            (
                "csrf_cookie_name = \"hitcount_visitor\"",
                "csrf_cookie_name",
                "hitcount_visitor",
            ),
            ("token_ttl = \"0 seconds\"", "token_ttl", "seconds=0"),
            ("proxy_header = \"X Real IP\"", "proxy_header", "X Real IP"),
        ] {
            let err = read(&format!("[default.hitcount]\n{toml}")).unwrap_err();
            assert!(err.contains(key), "{toml}: {err}");
            assert!(err.contains(value), "{toml}: {err}");
        }
    }
}
