//! The error of a `[hitcount]` setting that cannot be used: the key, the
//! value where it can be shown, and why.

use std::borrow::Cow;
use std::fmt;

use rocket::figment::error::Kind;
use rocket::figment::value::Value;
use rocket::figment::Figment;

use super::SECRET_KEYS;

/// A `[hitcount]` setting that the integration cannot use: the key, the
/// value when there is one to show, and what is wrong. Its `Display` is
/// the whole message, the one the fairing logs before it stops the launch;
/// [`source`](std::error::Error::source) gives the figment or counter
/// error behind it, when there is one.
///
/// ```
/// use rocket_hitcount::{Config, ConfigErrorKind};
///
/// let mut config = Config::default();
/// config.cookie.name = "a b".into();
/// let err = config.validate().unwrap_err();
/// assert_eq!(err.key(), "hitcount.cookie.name");
/// assert_eq!(err.value(), Some("\"a b\""));
/// assert_eq!(err.kind(), ConfigErrorKind::NotACookieName);
/// assert_eq!(
///     err.to_string(),
///     "invalid value \"a b\" for setting `hitcount.cookie.name`: \
///      must be a cookie name: letters, digits and !#$%&'*+-.^_`|~"
/// );
/// ```
#[derive(Debug)]
pub struct ConfigError {
    key: String,
    value: Option<String>,
    kind: ConfigErrorKind,
    reason: Cow<'static, str>,
    known: Vec<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ConfigError {
    /// The offending key, from the top of Rocket's configuration:
    /// `hitcount.cookie.name`, or `hitcount` when the table itself is
    /// wrong.
    ///
    /// ```
    /// use rocket::figment::{Figment, providers::{Format, Toml}};
    ///
    /// let figment = Figment::new().merge(Toml::string("[hitcount]\ncookie = { max_age = \"forever\" }"));
    /// let err = rocket_hitcount::Config::from_figment(&figment).unwrap_err();
    /// assert_eq!(err.key(), "hitcount.cookie.max_age");
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The rejected value as `Rocket.toml` writes it (a string in double
    /// quotes). `None` for a secret (`secret_key`, `ip_hash_key`), whose
    /// value is never shown, for an unknown key, which may be a misspelt
    /// secret, and where no single value is at fault.
    ///
    /// ```
    /// use rocket_hitcount::{Config, Window};
    ///
    /// let mut config = Config::default();
    /// config.token_ttl = Window::seconds(0);
    /// assert_eq!(config.validate().unwrap_err().value(), Some("\"seconds=0\""));
    ///
    /// config = Config::default();
    /// config.secret_key = Some("too short".into());
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.value(), None);
    /// assert!(!err.to_string().contains("too short"));
    /// ```
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What is wrong.
    ///
    /// ```
    /// use rocket::figment::{Figment, providers::Serialized};
    /// use rocket_hitcount::{Config, ConfigErrorKind};
    ///
    /// let figment = Figment::new().merge(Serialized::default("hitcount.fast_commits", "maybe"));
    /// let err = Config::from_figment(&figment).unwrap_err();
    /// assert_eq!(err.kind(), ConfigErrorKind::Malformed);
    /// ```
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// `hitcount.<key>`, or `hitcount` for the table itself.
    pub(super) fn full_key(key: &str) -> String {
        if key.is_empty() {
            "hitcount".to_owned()
        } else {
            format!("hitcount.{key}")
        }
    }

    /// A value that a check of [`Config::validate`] refuses.
    pub(super) fn invalid(
        key: &str,
        value: &str,
        kind: ConfigErrorKind,
        reason: &'static str,
    ) -> ConfigError {
        ConfigError {
            key: Self::full_key(key),
            value: (!SECRET_KEYS.contains(&key)).then(|| format!("{value:?}")),
            kind,
            reason: reason.into(),
            known: Vec::new(),
            source: None,
        }
    }

    /// A key no setting has; `known` are the keys of its table.
    pub(super) fn unknown(key: &str, known: Vec<String>) -> ConfigError {
        ConfigError {
            key: Self::full_key(key),
            value: None,
            kind: ConfigErrorKind::UnknownKey,
            reason: "".into(),
            known,
            source: None,
        }
    }

    /// A key that is on purpose not a setting.
    pub(super) fn not_a_setting(key: &str, why: &'static str) -> ConfigError {
        ConfigError {
            key: Self::full_key(key),
            value: None,
            kind: ConfigErrorKind::NotASetting,
            reason: why.into(),
            known: Vec::new(),
            source: None,
        }
    }

    /// `hitcount` is there, but not as a table of settings.
    pub(super) fn not_a_table(value: &Value) -> ConfigError {
        ConfigError {
            key: Self::full_key(""),
            value: serde_json::to_string(value).ok(),
            kind: ConfigErrorKind::NotATable,
            reason: "must be a table of settings, such as [default.hitcount] in Rocket.toml".into(),
            known: Vec::new(),
            source: None,
        }
    }

    /// The configuration cannot be read at all.
    pub(super) fn unreadable(error: rocket::figment::Error) -> ConfigError {
        ConfigError {
            key: Self::full_key(""),
            value: None,
            kind: ConfigErrorKind::Unreadable,
            reason: error.to_string().into(),
            known: Vec::new(),
            source: Some(Box::new(error)),
        }
    }

    /// A value that does not read as its setting's type; `scoped` is the
    /// figment focused on `hitcount`, where the error's path starts.
    pub(super) fn malformed(scoped: &Figment, error: rocket::figment::Error) -> ConfigError {
        let path = error.path.join(".");
        if let Kind::UnknownField(field, expected) = &error.kind {
            // A nested table refuses its unknown keys itself (serde's
            // `deny_unknown_fields`), with the list of its keys. Figment's
            // path may end with the unknown key.
            let mut table = error.path.clone();
            if table.last() == Some(field) {
                table.pop();
            }
            let table: String = table.iter().map(|name| format!("{name}.")).collect();
            let key = format!("{table}{field}");
            let known = expected.iter().map(|name| format!("{table}{name}")).collect();
            return ConfigError {
                source: Some(Box::new(error)),
                ..Self::unknown(&key, known)
            };
        }
        ConfigError {
            key: Self::full_key(&path),
            value: if path.is_empty() {
                None
            } else {
                shown(scoped, &path)
            },
            kind: ConfigErrorKind::Malformed,
            reason: error.kind.to_string().into(),
            known: Vec::new(),
            source: Some(Box::new(error)),
        }
    }

    /// A counting setting that [`Settings::validate`] refuses.
    pub(super) fn counting(error: hitcount::Error) -> ConfigError {
        let (key, value, reason) = match &error {
            hitcount::Error::Setting { key, value, reason } => (
                Self::full_key(key),
                (!SECRET_KEYS.contains(key)).then(|| value.clone()),
                reason.clone(),
            ),
            other => (Self::full_key(""), None, other.to_string()),
        };
        ConfigError {
            key,
            value,
            kind: ConfigErrorKind::Counting,
            reason: reason.into(),
            known: Vec::new(),
            source: Some(Box::new(error)),
        }
    }
}

/// The value at `path` in `figment` as `Rocket.toml` writes it, unless it
/// is a secret.
fn shown(figment: &Figment, path: &str) -> Option<String> {
    let name = path.rsplit('.').next().unwrap_or(path);
    if SECRET_KEYS.contains(&name) {
        return None;
    }
    let value = figment.find_value(path).ok()?;
    serde_json::to_string(&value).ok()
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ConfigError { key, reason, .. } = self;
        match (self.kind, &self.value) {
            (ConfigErrorKind::Unreadable, _) => write!(f, "invalid [hitcount] settings: {reason}"),
            (ConfigErrorKind::UnknownKey, _) => {
                write!(f, "unknown setting `{key}` (known: {})", self.known.join(", "))
            }
            (ConfigErrorKind::NotASetting, _) => {
                write!(f, "`{key}` is not a setting: {reason}; delete the key")
            }
            (ConfigErrorKind::Malformed, _) | (_, None) => write!(f, "invalid setting `{key}`: {reason}"),
            (_, Some(value)) => write!(f, "invalid value {value} for setting `{key}`: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// What is wrong with a `[hitcount]` setting: the kind of a
/// [`ConfigError`].
///
/// ```
/// use rocket::figment::{Figment, providers::{Format, Toml}};
/// use rocket_hitcount::{Config, ConfigErrorKind};
///
/// let kind = |toml: &str| {
///     let figment = Figment::new().merge(Toml::string(toml));
///     Config::from_figment(&figment).unwrap_err().kind()
/// };
/// assert_eq!(kind("hitcount = 5"), ConfigErrorKind::NotATable);
/// assert_eq!(kind("[hitcount]\nbase_pth = \"/stats\""), ConfigErrorKind::UnknownKey);
/// assert_eq!(kind("[hitcount]\ncookie = { nme = \"v\" }"), ConfigErrorKind::UnknownKey);
/// assert_eq!(kind("[hitcount]\ncounting = \"exact\""), ConfigErrorKind::NotASetting);
/// assert_eq!(kind("[hitcount]\nkeep_hit_active = \"7 dayz\""), ConfigErrorKind::Malformed);
/// assert_eq!(kind("[hitcount]\ncleanup_batch_size = 0"), ConfigErrorKind::Counting);
/// assert_eq!(kind("[hitcount]\nbase_path = \"stats\""), ConfigErrorKind::NotAnAbsolutePath);
/// assert_eq!(kind("[hitcount]\nsecret_key = \"short\""), ConfigErrorKind::ShortSecret);
/// assert_eq!(kind("[hitcount]\ncsrf_cookie_name = \"a b\""), ConfigErrorKind::NotACookieName);
/// assert_eq!(kind("[hitcount]\ncsrf_cookie_name = \"hitcount_visitor\""), ConfigErrorKind::SameCookieName);
/// assert_eq!(kind("[hitcount]\nproxy_header = \"X Real IP\""), ConfigErrorKind::NotAHeaderName);
/// assert_eq!(kind("[hitcount]\ntoken_ttl = \"0 seconds\""), ConfigErrorKind::ZeroDuration);
/// assert_eq!(kind("[hitcount]\ncookie = { visit_interval = \"0s\" }"), ConfigErrorKind::ZeroDuration);
/// assert_eq!(kind("[hitcount]\ncookie = { mode = \"none\" }"), ConfigErrorKind::CookieFree);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The configuration cannot be read at all: one of the figment's
    /// providers failed (a TOML syntax error, say). The source is
    /// figment's error.
    Unreadable,
    /// `hitcount` is not a table of settings (`hitcount = 5`, say).
    NotATable,
    /// A key that no setting has, at the top of `[hitcount]` or in one of
    /// its tables (`cookie`): a misspelling, say. The message lists the
    /// keys of that table.
    UnknownKey,
    /// A key that is on purpose not a setting, such as `counting`: hits
    /// are always counted exactly. The message says why.
    NotASetting,
    /// A value that does not read as its setting's type: a duration such
    /// as `"7 dayz"`, `"maybe"` for a flag, an unknown choice, a proxy
    /// that is no address or network. The source is figment's error.
    Malformed,
    /// A counting setting that the counter's own checks refuse (a zero
    /// `keep_hit_active`, a `keep_hit_in_database` shorter than it, ...).
    /// The source is the counter's
    /// [`hitcount::Error`](crate::hitcount::Error).
    Counting,
    /// `base_path` is not an absolute path such as `/hitcount`.
    NotAnAbsolutePath,
    /// `secret_key` is shorter than 32 characters. Its value is not shown.
    ShortSecret,
    /// `cookie.name` or `csrf_cookie_name` is not a valid cookie name.
    NotACookieName,
    /// `csrf_cookie_name` is the visitor cookie's name (`cookie.name`).
    SameCookieName,
    /// `proxy_header` is not a header name such as `X-Real-IP`.
    NotAHeaderName,
    /// A setting that the cookie-free mode (`cookie.mode = "none"`) needs
    /// or rules out: it needs `private_hit_log`, and the cookie's
    /// `visit_counts` and `visit_interval` have no cookie to live in.
    CookieFree,
    /// A duration that must be longer than zero is zero: `token_ttl`,
    /// `cookie.visit_interval`, or `cookie.max_age` of a cookie that is not
    /// a browser-session one.
    ZeroDuration,
}
