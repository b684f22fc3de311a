//! Who makes a request: session key, optional user with groups, IP, user
//! agent and privacy signals.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ip::canonical;
use super::ObjectRef;
use crate::error::{invalid, Result};

/// User agents are cut to this many characters, as django-hitcount does.
pub const MAX_USER_AGENT_LEN: usize = 255;
/// The longest session key accepted, in characters.
pub const MAX_SESSION_KEY_LEN: usize = 64;
/// The longest user id accepted, in characters.
pub const MAX_USER_ID_LEN: usize = 255;

/// An authenticated user: an id and the names of the user's groups.
///
/// ```
/// let user = hitcount::User::new("42").unwrap().with_groups(["Admin"]);
/// assert_eq!(user.id(), "42");
/// assert!(user.groups().iter().any(|g| g == "Admin"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    id: String,
    groups: Vec<String>,
}

impl User {
    /// A user with this id (1 to 255 characters) and no groups.
    ///
    /// ```
    /// assert!(hitcount::User::new("").is_err());
    /// ```
    pub fn new(id: impl Into<String>) -> Result<User> {
        let id = id.into();
        if id.is_empty() || id.chars().count() > MAX_USER_ID_LEN {
            return Err(invalid("user id", id, "must be 1 to 255 characters"));
        }
        if id.chars().any(char::is_control) {
            return Err(invalid("user id", id, "must not contain control characters"));
        }
        Ok(User {
            id,
            groups: Vec::new(),
        })
    }

    /// Sets the names of the user's groups, for `exclude_user_groups`.
    ///
    /// ```
    /// let user = hitcount::User::new("1").unwrap().with_groups(vec!["Staff".to_string()]);
    /// assert_eq!(user.groups(), ["Staff"]);
    /// ```
    pub fn with_groups<I, S>(mut self, groups: I) -> User
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// The user's id.
    ///
    /// ```
    /// assert_eq!(hitcount::User::new("7").unwrap().id(), "7");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The names of the user's groups.
    ///
    /// ```
    /// assert!(hitcount::User::new("7").unwrap().groups().is_empty());
    /// ```
    pub fn groups(&self) -> &[String] {
        &self.groups
    }
}

/// The visitor behind one request.
///
/// ```
/// use hitcount::{User, Visitor};
///
/// let visitor = Visitor::new("k7a3...session")
///     .unwrap()
///     .with_ip("192.0.2.1".parse().unwrap())
///     .with_user_agent("Mozilla/5.0 (X11; Linux x86_64)")
///     .with_user(User::new("42").unwrap());
/// assert_eq!(visitor.user().unwrap().id(), "42");
///
/// let long = "x".repeat(1000);
/// assert_eq!(Visitor::new("s").unwrap().with_user_agent(&long).user_agent().len(), 255);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visitor {
    session_key: String,
    previous_session_key: Option<String>,
    user: Option<User>,
    ip: Option<IpAddr>,
    user_agent: String,
    do_not_track: bool,
}

impl Visitor {
    /// An anonymous visitor with this session key (1 to 64 characters), no
    /// IP and an empty user agent.
    ///
    /// ```
    /// let err = hitcount::Visitor::new("").unwrap_err();
    /// assert_eq!(err.to_string(), "invalid session key \"\": must be 1 to 64 characters");
    /// ```
    pub fn new(session_key: impl Into<String>) -> Result<Visitor> {
        let session_key = session_key.into();
        if session_key.is_empty() || session_key.chars().count() > MAX_SESSION_KEY_LEN {
            return Err(invalid("session key", session_key, "must be 1 to 64 characters"));
        }
        if session_key.chars().any(char::is_control) {
            return Err(invalid(
                "session key",
                session_key,
                "must not contain control characters",
            ));
        }
        Ok(Visitor {
            session_key,
            previous_session_key: None,
            user: None,
            ip: None,
            user_agent: String::new(),
            do_not_track: false,
        })
    }

    /// Sets the session key the visitor had before this one: its active
    /// hits count as the visitor's own. The Rocket integration uses it for
    /// a browser whose first, cookieless request was counted under a key
    /// derived from its IP and user agent.
    ///
    /// ```
    /// let v = hitcount::Visitor::new("random-key").unwrap().with_previous_session_key("derived-key").unwrap();
    /// assert_eq!(v.previous_session_key(), Some("derived-key"));
    /// assert!(hitcount::Visitor::new("k").unwrap().with_previous_session_key("").is_err());
    /// ```
    pub fn with_previous_session_key(mut self, key: impl Into<String>) -> Result<Visitor> {
        let key = Visitor::new(key)?.session_key;
        self.previous_session_key = Some(key);
        Ok(self)
    }

    /// The previous session key, if any.
    ///
    /// ```
    /// assert_eq!(hitcount::Visitor::new("k").unwrap().previous_session_key(), None);
    /// ```
    pub fn previous_session_key(&self) -> Option<&str> {
        self.previous_session_key.as_deref()
    }

    /// Sets the client IP address.
    ///
    /// ```
    /// let v = hitcount::Visitor::new("s").unwrap().with_ip("::ffff:192.0.2.1".parse().unwrap());
    /// assert_eq!(v.ip().unwrap().to_string(), "192.0.2.1");
    /// ```
    pub fn with_ip(mut self, ip: IpAddr) -> Visitor {
        self.ip = Some(canonical(ip));
        self
    }

    /// Sets the user agent, cut to 255 characters as django-hitcount does
    /// (NUL characters, which PostgreSQL cannot store, become U+FFFD).
    ///
    /// ```
    /// let v = hitcount::Visitor::new("s").unwrap().with_user_agent("curl/8.0");
    /// assert_eq!(v.user_agent(), "curl/8.0");
    /// ```
    pub fn with_user_agent(mut self, user_agent: &str) -> Visitor {
        self.user_agent = clean_user_agent(user_agent);
        self
    }

    /// Sets the authenticated user.
    ///
    /// ```
    /// let v = hitcount::Visitor::new("s").unwrap().with_user(hitcount::User::new("1").unwrap());
    /// assert!(v.user().is_some());
    /// ```
    pub fn with_user(mut self, user: User) -> Visitor {
        self.user = Some(user);
        self
    }

    /// Records that the request carried `DNT: 1` or `Sec-GPC: 1`.
    ///
    /// ```
    /// assert!(hitcount::Visitor::new("s").unwrap().with_do_not_track(true).do_not_track());
    /// ```
    pub fn with_do_not_track(mut self, do_not_track: bool) -> Visitor {
        self.do_not_track = do_not_track;
        self
    }

    /// The session key.
    ///
    /// ```
    /// assert_eq!(hitcount::Visitor::new("abc").unwrap().session_key(), "abc");
    /// ```
    pub fn session_key(&self) -> &str {
        &self.session_key
    }

    /// The authenticated user, if any.
    ///
    /// ```
    /// assert!(hitcount::Visitor::new("s").unwrap().user().is_none());
    /// ```
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// The client IP address, if known.
    ///
    /// ```
    /// assert!(hitcount::Visitor::new("s").unwrap().ip().is_none());
    /// ```
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The user agent, at most 255 characters.
    ///
    /// ```
    /// assert_eq!(hitcount::Visitor::new("s").unwrap().user_agent(), "");
    /// ```
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Whether the visitor asked not to be tracked (DNT or GPC).
    ///
    /// ```
    /// assert!(!hitcount::Visitor::new("s").unwrap().do_not_track());
    /// ```
    pub fn do_not_track(&self) -> bool {
        self.do_not_track
    }

    /// The visitor as `private_hit_log` keeps it for `object`: each key
    /// an HMAC of the object and the key under the day's `salt`, and
    /// nothing else but the wish not to be tracked. The same visitor gets
    /// the same keys on the same object all day, and keys that match no
    /// other object's, nor another day's.
    pub(crate) fn private_for(&self, object: &ObjectRef, salt: &[u8]) -> Visitor {
        let key = |session: &str| private_key(salt, &[object.kind(), object.id(), session]);
        Visitor {
            session_key: key(&self.session_key),
            previous_session_key: self.previous_session_key.as_deref().map(key),
            user: None,
            ip: None,
            user_agent: String::new(),
            do_not_track: self.do_not_track,
        }
    }
}

/// What `private_hit_log` keeps in place of a session key: an HMAC of
/// `parts` under `secret`, 40 hex characters.
pub(crate) fn private_key(secret: &[u8], parts: &[&str]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    for part in parts {
        // Each part's length first, so that no two lists run together.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    hex::encode(&mac.finalize().into_bytes()[..20])
}

/// A user agent as the counter keeps and compares it: its first 255
/// characters, with NUL (which PostgreSQL cannot store) as U+FFFD.
pub(crate) fn clean_user_agent(user_agent: &str) -> String {
    user_agent
        .chars()
        .take(MAX_USER_AGENT_LEN)
        .map(|c| if c == '\0' { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_link_one_object_one_day_only() {
        let post = |id: i64| ObjectRef::new("blog.post", id).unwrap();
        let visitor = Visitor::new("k")
            .unwrap()
            .with_previous_session_key("p")
            .unwrap()
            .with_ip("192.0.2.1".parse().unwrap())
            .with_user_agent("Firefox")
            .with_user(User::new("alice").unwrap())
            .with_do_not_track(true);
        let kept = visitor.private_for(&post(1), b"monday");
        assert_eq!(kept, visitor.private_for(&post(1), b"monday"), "the same all day");
        assert_eq!(kept.session_key().len(), 40);
        assert_ne!(kept.session_key(), "k");
        assert_ne!(kept.previous_session_key(), Some("p"));
        assert_ne!(Some(kept.session_key()), kept.previous_session_key());
        assert_ne!(
            kept.session_key(),
            visitor.private_for(&post(2), b"monday").session_key()
        );
        assert_ne!(
            kept.session_key(),
            visitor.private_for(&post(1), b"tuesday").session_key()
        );
        let other_kind = ObjectRef::new("blog.page", 1).unwrap();
        assert_ne!(
            kept.session_key(),
            visitor.private_for(&other_kind, b"monday").session_key()
        );
        assert_eq!((kept.ip(), kept.user_agent(), kept.user()), (None, "", None));
        assert!(kept.do_not_track());
    }

    #[test]
    fn user_agents_are_cut_at_255_characters_not_bytes() {
        let ua = "é".repeat(300);
        let v = Visitor::new("s").unwrap().with_user_agent(&ua);
        assert_eq!(v.user_agent().chars().count(), 255);
        assert_eq!(clean_user_agent("short"), "short");
        assert_eq!(clean_user_agent(&"a".repeat(300)).len(), 255);
        assert_eq!(clean_user_agent("a\0b"), "a\u{FFFD}b");
    }

    #[test]
    fn session_keys_and_user_ids_are_bounded() {
        assert!(Visitor::new("k".repeat(64)).is_ok());
        assert!(Visitor::new("k".repeat(65)).is_err());
        assert!(User::new("u".repeat(256)).is_err());
        assert!(User::new("a\nb").is_err());
        assert!(Visitor::new("s\0").is_err());
    }
}
