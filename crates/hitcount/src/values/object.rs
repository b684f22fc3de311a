//! What is counted: an object named by its kind and its id.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

/// The longest kind accepted, in characters.
pub const MAX_KIND_LEN: usize = 100;
/// The longest id accepted, in characters.
pub const MAX_ID_LEN: usize = 255;

/// A counted object: a short stable `kind` such as `"blog.post"` and an
/// `id` that is any string, so integer, UUID and slug keys all work.
///
/// ```
/// use hitcount::ObjectRef;
///
/// let post = ObjectRef::new("blog.post", 42).unwrap();
/// assert_eq!(post.id(), "42");
/// let page = ObjectRef::new("wiki.page", "getting-started").unwrap();
/// let doc = ObjectRef::new("docs.doc", "67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
/// assert_eq!(doc.to_string(), "docs.doc:67e55044-10b1-426f-9247-bb680e5fe0c8");
/// assert!(ObjectRef::new("blog.post", "").is_err());
/// # let _ = page;
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawObject")]
pub struct ObjectRef {
    kind: String,
    id: String,
}

#[derive(Deserialize)]
struct RawObject {
    kind: String,
    id: String,
}

impl TryFrom<RawObject> for ObjectRef {
    type Error = crate::Error;

    fn try_from(raw: RawObject) -> Result<Self> {
        ObjectRef::new(raw.kind, raw.id)
    }
}

impl ObjectRef {
    /// Names an object. The kind must be 1 to 100 characters without
    /// whitespace or `:`; the id 1 to 255 characters.
    ///
    /// ```
    /// let err = hitcount::ObjectRef::new("blog post", 1).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid object kind \"blog post\": must not contain whitespace");
    /// ```
    pub fn new(kind: impl Into<String>, id: impl fmt::Display) -> Result<ObjectRef> {
        let kind = kind.into();
        let id = id.to_string();
        if kind.is_empty() {
            return Err(invalid("object kind", kind, "must not be empty"));
        }
        if kind.chars().count() > MAX_KIND_LEN {
            return Err(invalid("object kind", kind, "must be at most 100 characters"));
        }
        if kind.chars().any(char::is_whitespace) {
            return Err(invalid("object kind", kind, "must not contain whitespace"));
        }
        if kind.contains(':') {
            // `kind:id` must split back into the two.
            return Err(invalid("object kind", kind, "must not contain ':'"));
        }
        if kind.chars().any(char::is_control) {
            return Err(invalid(
                "object kind",
                kind,
                "must not contain control characters",
            ));
        }
        if id.is_empty() {
            return Err(invalid("object id", id, "must not be empty"));
        }
        if id.chars().count() > MAX_ID_LEN {
            return Err(invalid("object id", id, "must be at most 255 characters"));
        }
        if id.chars().any(char::is_control) {
            return Err(invalid("object id", id, "must not contain control characters"));
        }
        Ok(ObjectRef { kind, id })
    }

    /// The kind, e.g. `"blog.post"`.
    ///
    /// ```
    /// assert_eq!(hitcount::ObjectRef::new("blog.post", 1).unwrap().kind(), "blog.post");
    /// ```
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The id, as a string.
    ///
    /// ```
    /// assert_eq!(hitcount::ObjectRef::new("blog.post", 7).unwrap().id(), "7");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// `kind:id`, as [`ObjectRef`]'s `Display` writes it: the form templates
/// and URLs can carry.
///
/// ```
/// let post: hitcount::ObjectRef = "blog.post:hello:world".parse().unwrap();
/// assert_eq!((post.kind(), post.id()), ("blog.post", "hello:world"));
/// let err = "blog.post".parse::<hitcount::ObjectRef>().unwrap_err();
/// assert_eq!(err.to_string(), "invalid object key \"blog.post\": expected kind:id, as in \"blog.post:1\"");
/// ```
impl std::str::FromStr for ObjectRef {
    type Err = crate::Error;

    fn from_str(key: &str) -> Result<ObjectRef> {
        match key.split_once(':') {
            Some((kind, id)) => ObjectRef::new(kind, id),
            None => Err(invalid(
                "object key",
                key,
                "expected kind:id, as in \"blog.post:1\"",
            )),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert!(ObjectRef::new("k".repeat(100), 1).is_ok());
        assert!(ObjectRef::new("k".repeat(101), 1).is_err());
        assert!(ObjectRef::new("k", "i".repeat(255)).is_ok());
        assert!(ObjectRef::new("k", "i".repeat(256)).is_err());
        assert!(ObjectRef::new("k\t", 1).is_err());
        assert!(ObjectRef::new("k:k", 1).is_err());
        assert!(ObjectRef::new("k", "a\0b").is_err());
        assert!(ObjectRef::new("k\u{7}", 1).is_err());
        // Ids may hold anything printable, spaces included (slugs, titles).
        assert!(ObjectRef::new("k", "a b/é").is_ok());
    }

    #[test]
    fn deserializing_validates() {
        let ok: ObjectRef = serde_json::from_str(r#"{"kind":"blog.post","id":"1"}"#).unwrap();
        assert_eq!(ok, ObjectRef::new("blog.post", 1).unwrap());
        let err = serde_json::from_str::<ObjectRef>(r#"{"kind":"","id":"1"}"#).unwrap_err();
        assert!(err.to_string().contains("object kind"), "{err}");
    }
}

#[cfg(test)]
mod proptests;
